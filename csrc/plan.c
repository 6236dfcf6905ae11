/* The plan executor: a captured training step replayed in one call (see pyautograd.h). It calls
 * the very kernels the eager step called, float64 or float32 as each op's dtype says, with the
 * same arguments, in the same order, so a replay computes the same bits. The only checks here
 * are the table indices and the dtype; every size was validated by Python when the plan was
 * built. The per-op body is in plan.inc, written once over csrc/real.h's element type. */
#include <string.h>

#include "pyautograd.h"

static int in_range(int index, size_t n) { return index >= 0 && (size_t)index < n; }

#define PAG_F32 0
#include "real.h"
#include "plan.inc"
#undef PAG_F32

#define PAG_F32 1
#include "real.h"
#include "plan.inc"
#undef PAG_F32

size_t pag_plan_run(const pag_plan_op *ops, size_t n_ops, void *const *buffers, size_t n_buffers,
                    const double *table, size_t n_table)
{
    for (size_t i = 0; i < n_ops; ++i) {
        const pag_plan_op *op = &ops[i];
        if (!in_range(op->out, n_buffers) || (op->buf0 != -1 && !in_range(op->buf0, n_buffers))
            || (op->buf1 != -1 && !in_range(op->buf1, n_buffers)))
            return i + 1;
        int failed;
        if (op->dtype == PAG_PLAN_FLOAT64)
            failed = plan_op(op, buffers, n_buffers, table, n_table);
        else if (op->dtype == PAG_PLAN_FLOAT32)
            failed = plan_op_f32(op, buffers, n_buffers, table, n_table);
        else
            failed = 1;
        if (failed)
            return i + 1;
    }
    return 0;
}

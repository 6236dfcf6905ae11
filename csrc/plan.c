/* The plan executor: a captured training step replayed in one call (see pyautograd.h). It calls
 * the very kernels the eager step called, with the same arguments, in the same order, so a
 * replay computes the same bits. The only checks here are the table indices; every size was
 * validated by Python when the plan was built. */
#include <string.h>

#include "pyautograd.h"

static int in_range(int index, size_t n) { return index >= 0 && (size_t)index < n; }

size_t pag_plan_run(const pag_plan_op *ops, size_t n_ops, double **buffers, size_t n_buffers,
                    const double *table, size_t n_table)
{
    for (size_t i = 0; i < n_ops; ++i) {
        const pag_plan_op *op = &ops[i];
        if (!in_range(op->out, n_buffers) || (op->buf0 != -1 && !in_range(op->buf0, n_buffers))
            || (op->buf1 != -1 && !in_range(op->buf1, n_buffers)))
            return i + 1;
        double s = op->scalar;
        if (op->scalar_from == PAG_SCALAR_TABLE) {
            if (!in_range(op->scalar_index, n_table))
                return i + 1;
            s = table[op->scalar_index];
        } else if (op->scalar_from == PAG_SCALAR_BUFFER) {
            if (!in_range(op->scalar_index, n_buffers))
                return i + 1;
            s = buffers[op->scalar_index][0];
        }
        const double *a = op->buf0 == -1 ? NULL : buffers[op->buf0];
        const double *b = op->buf1 == -1 ? NULL : buffers[op->buf1];
        double *out = buffers[op->out];
        switch (op->kind) {
        case PAG_PLAN_BINARY:
            if (pag_binary(op->code, op->size0, op->size1, a, op->stride0, op->stride1, b,
                           op->stride2, op->stride3, out) != 0)
                return i + 1;
            break;
        case PAG_PLAN_BINARY_SAME:
            if (pag_binary_same(op->code, op->size0, a, b, out) != 0)
                return i + 1;
            break;
        case PAG_PLAN_BINARY_SCALAR:
            if (pag_binary_scalar(op->code, op->size0, a, s, op->flag0, out) != 0)
                return i + 1;
            break;
        case PAG_PLAN_UNARY:
            if (pag_unary(op->code, op->size0, a, out) != 0)
                return i + 1;
            break;
        case PAG_PLAN_POW_SCALAR:
            pag_pow_scalar(op->size0, a, s, out);
            break;
        case PAG_PLAN_FILL:
            pag_fill(op->size0, s, out);
            break;
        case PAG_PLAN_AXPY:
            pag_axpy(op->size0, s, a, out);
            break;
        case PAG_PLAN_SIGMOID_BACKWARD:
            pag_sigmoid_backward(op->size0, a, b, out);
            break;
        case PAG_PLAN_TRANSPOSE:
            pag_transpose(op->size0, op->size1, a, out);
            break;
        case PAG_PLAN_REDUCE:
            if (pag_reduce(op->code, op->flag0, op->size0, op->size1, a, out) != 0)
                return i + 1;
            break;
        case PAG_PLAN_MATMUL:
            if (pag_matmul(op->flag0, op->flag1, op->size0, op->size1, op->size2, a, b,
                           op->accumulate, out, op->num_threads) != 0)
                return i + 1;
            break;
        case PAG_PLAN_COPY:
            if (op->size0)
                memmove(out, a, op->size0 * sizeof(double));
            break;
        default:
            return i + 1;
        }
    }
    return 0;
}

/* Reductions (sum, mean, max) over all values or one axis, and the transpose. The summation
 * order is sequential and row-major, the same as the pure-Python reference. */
#include "pyautograd.h"

static inline double max2(double m, double x) { return (x > m || x != x) && m == m ? x : m; }

void pag_reduce(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out)
{
    if (axis < 0) {
        size_t n = nrow * ncol;
        double acc;
        if (op == PAG_MAX) {
            acc = -__builtin_inf();
            for (size_t i = 0; i < n; ++i) acc = max2(acc, a[i]);
        } else {
            acc = 0.0;
            for (size_t i = 0; i < n; ++i) acc += a[i];
            if (op == PAG_MEAN) acc /= (double)n;
        }
        out[0] = acc;
    } else if (axis == 0) {
        for (size_t j = 0; j < ncol; ++j) out[j] = a[j];
        for (size_t i = 1; i < nrow; ++i) {
            const double *row = a + i * ncol;
            if (op == PAG_MAX) {
                for (size_t j = 0; j < ncol; ++j) out[j] = max2(out[j], row[j]);
            } else {
                for (size_t j = 0; j < ncol; ++j) out[j] += row[j];
            }
        }
        if (op == PAG_SUM) {
            for (size_t j = 0; j < ncol; ++j) out[j] += 0.0;  /* -0.0 sums to 0.0, as in Python */
        } else if (op == PAG_MEAN) {
            for (size_t j = 0; j < ncol; ++j) out[j] = (out[j] + 0.0) / (double)nrow;
        }
    } else {
        for (size_t i = 0; i < nrow; ++i) {
            const double *row = a + i * ncol;
            double acc;
            if (op == PAG_MAX) {
                acc = -__builtin_inf();
                for (size_t j = 0; j < ncol; ++j) acc = max2(acc, row[j]);
            } else {
                acc = 0.0;
                for (size_t j = 0; j < ncol; ++j) acc += row[j];
                if (op == PAG_MEAN) acc /= (double)ncol;
            }
            out[i] = acc;
        }
    }
}

#define PAG_TRANSPOSE_BLOCK 32

void pag_transpose(size_t nrow, size_t ncol, const double *a, double *out)
{
    for (size_t i0 = 0; i0 < nrow; i0 += PAG_TRANSPOSE_BLOCK) {
        size_t i1 = i0 + PAG_TRANSPOSE_BLOCK < nrow ? i0 + PAG_TRANSPOSE_BLOCK : nrow;
        for (size_t j0 = 0; j0 < ncol; j0 += PAG_TRANSPOSE_BLOCK) {
            size_t j1 = j0 + PAG_TRANSPOSE_BLOCK < ncol ? j0 + PAG_TRANSPOSE_BLOCK : ncol;
            for (size_t i = i0; i < i1; ++i)
                for (size_t j = j0; j < j1; ++j) out[j * nrow + i] = a[i * ncol + j];
        }
    }
}

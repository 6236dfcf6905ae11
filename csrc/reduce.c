/* Reductions (sum, mean, max) over all values or one axis, and the transpose.
 *
 * Sums over all values and along rows are pairwise: halves (cut at a multiple of 8) are summed
 * recursively down to blocks of at most PAG_SUM_BLOCK values, and a block is summed in 8 lanes
 * (lane u takes values u, u + 8, u + 16, ...), then the lanes in a fixed tree, then the tail. The
 * error grows with log(n), not n (NumPy's scheme, and NumPy-level accuracy), the lanes vectorise,
 * and pyautograd/backends/list2d.py repeats the same order so that both backends agree to the
 * bit. Column sums (axis 0) add rows in order, vectorised across the columns.
 */
#include <math.h>

#include "dispatch.h"
#include "pyautograd.h"

#define PAG_SUM_BLOCK 128

static inline double max2(double m, double x) { return (x > m || x != x) && m == m ? x : m; }

/* The sum of n <= PAG_SUM_BLOCK values: 8 lanes, combined pairwise, then the tail in order. */
PAG_HOT
static double sum_block(const double *a, size_t n)
{
    double lane[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; ++u) lane[u] += a[i + u];
    double s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; ++i) s += a[i];
    return s;
}

static double pairwise_sum(const double *a, size_t n)
{
    if (n <= PAG_SUM_BLOCK) return sum_block(a, n);
    size_t half = n / 2;
    half -= half % 8;
    return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

void pag_reduce(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out)
{
    if (axis < 0) {
        size_t n = nrow * ncol;
        double acc;
        if (op == PAG_MAX) {
            acc = -INFINITY;
            for (size_t i = 0; i < n; ++i) acc = max2(acc, a[i]);
        } else {
            acc = pairwise_sum(a, n);
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
                acc = -INFINITY;
                for (size_t j = 0; j < ncol; ++j) acc = max2(acc, row[j]);
            } else {
                acc = pairwise_sum(row, ncol);
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

/* Selections along an axis: min, argmax and argmin (indices as doubles). A NaN wins, the first
 * one; among equal values the first index wins: PyTorch's rules for amin, argmax and argmin. */
#include "pyautograd.h"

/* Does x replace the current best b (x comes later)? NaN beats everything and is never beaten. */
static inline int beats(int op, double x, double b)
{
    if (b != b) return 0;
    if (x != x) return 1;
    return op == PAG_ARGMAX ? x > b : x < b;
}

/* Best of n values a[0], a[step], ...: its index (argmax, argmin) or value (min). */
static double select_line(int op, size_t n, const double *a, size_t step)
{
    size_t best = 0;
    int cmp = op == PAG_MIN ? PAG_ARGMIN : op;
    for (size_t i = 1; i < n; ++i)
        if (beats(cmp, a[i * step], a[best * step])) best = i;
    return op == PAG_MIN ? a[best * step] : (double)best;
}

void pag_select(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out)
{
    if (axis < 0) {
        out[0] = select_line(op, nrow * ncol, a, 1);
    } else if (axis == 0) {
        for (size_t j = 0; j < ncol; ++j) out[j] = select_line(op, nrow, a + j, ncol);
    } else {
        for (size_t i = 0; i < nrow; ++i) out[i] = select_line(op, ncol, a + i * ncol, 1);
    }
}

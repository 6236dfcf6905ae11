/* pyautograd C kernels: every kernel the Python layer calls, declared once.
 *
 * Conventions: float64, row-major, contiguous buffers; every size is passed explicitly and was
 * checked by the Python caller; outputs are caller-allocated; no global state. Only pag_matmul
 * allocates (its packing buffers, freed before it returns). This file is also read by cffi's
 * cdef, so it holds nothing but plain declarations outside the preprocessor lines.
 */
#ifndef PYAUTOGRAD_H
#define PYAUTOGRAD_H

#include <stddef.h>

enum pag_binary_op {
    PAG_ADD = 0, PAG_SUB = 1, PAG_MUL = 2, PAG_DIV = 3,
    PAG_LT = 4, PAG_LE = 5, PAG_GT = 6, PAG_GE = 7, PAG_EQ = 8, PAG_NE = 9,
    PAG_MAXIMUM = 10, PAG_MINIMUM = 11 /* NaN-propagating, as NumPy's maximum/minimum */
};

enum pag_unary_op {
    PAG_NEG = 0, PAG_EXP = 1, PAG_LOG = 2, PAG_TANH = 3, PAG_SIGMOID = 4,
    PAG_RELU = 5, PAG_ABS = 6, PAG_SIGN = 7
};

enum pag_reduce_op { PAG_SUM = 0, PAG_MEAN = 1, PAG_MAX = 2 };

/* out[i,j] = a[i*a_rs + j*a_cs] (op) b[i*b_rs + j*b_cs] for an nrow x ncol out.
 * A stride of 0 broadcasts a dimension of size 1. out may be a itself (in-place update). */
void pag_binary(int op, size_t nrow, size_t ncol,
                const double *a, size_t a_rs, size_t a_cs,
                const double *b, size_t b_rs, size_t b_cs, double *out);

/* out[i] = a[i] (op) b[i] for two same-shape matrices of n values; out may be a. */
void pag_binary_same(int op, size_t n, const double *a, const double *b, double *out);

/* out[i] = a[i] (op) s, or s (op) a[i] when scalar_left is non-zero; out may be a. */
void pag_binary_scalar(int op, size_t n, const double *a, double s, int scalar_left, double *out);

/* out[i] = f(a[i]) for a unary op; sigmoid never overflows; out may be a. */
void pag_unary(int op, size_t n, const double *a, double *out);

/* out[i] = pow(a[i], p), with C's IEEE results, except that p = 0.5 is sqrt (as in NumPy); out may be a. */
void pag_pow_scalar(size_t n, const double *a, double p, double *out);

/* out[i] = value. */
void pag_fill(size_t n, double value, double *out);

/* y[i] += alpha * x[i]: parameter updates and scaled accumulation without a temporary. */
void pag_axpy(size_t n, double alpha, const double *x, double *y);

/* out[i] = s[i] * (1 - s[i]) * grad[i], where s = sigmoid(z): the sigmoid's backward in one pass. */
void pag_sigmoid_backward(size_t n, const double *s, const double *grad, double *out);

/* out (ncol x nrow) = transpose of a (nrow x ncol); out must not overlap a. */
void pag_transpose(size_t nrow, size_t ncol, const double *a, double *out);

/* Reduce an nrow x ncol matrix: axis -1 -> out[0]; axis 0 -> out[ncol]; axis 1 -> out[nrow].
 * max lets a NaN win, as NumPy does. */
void pag_reduce(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out);

/* C (m x n) = op(A) @ op(B) (+ C when accumulate is non-zero), where op(A) is m x k and is A
 * (stored m x k) or A^T (A stored k x m when trans_a); likewise B (k x n, or stored n x k).
 * Cache-blocked with packed panels, on up to num_threads OpenMP threads for large products.
 * C must not overlap A or B. Allocates its packing buffers: returns 0 on success, -1 when they
 * cannot be allocated (C is then unchanged). */
int pag_matmul(int trans_a, int trans_b, size_t m, size_t n, size_t k,
               const double *a, const double *b, int accumulate, double *c, int num_threads);

/* How the kernels were built and which variant of the hot kernels this CPU runs (static strings):
 * e.g. "x86-64-v3 (AVX2+FMA), chosen at run time"; the compiler and its version; the flags. */
const char *pag_cpu_variant(void);
const char *pag_build_compiler(void);
const char *pag_build_flags(void);

/* The OpenMP version the kernels were built with (yyyymm, as _OPENMP), or 0 without OpenMP. */
int pag_openmp_version(void);

#endif

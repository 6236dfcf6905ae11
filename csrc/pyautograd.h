/* pyautograd C kernels: every kernel the Python layer calls, declared once.
 *
 * Conventions: float64, row-major, contiguous buffers (each kernel has a float32 twin, declared
 * at the end, named with _f32 and compiled from the same source: the .inc files over real.h);
 * every size is passed explicitly and was checked by the Python caller; outputs are caller-allocated. The only global state is the
 * buffer pool's (pool.c), from which every buffer comes; among the kernels only pag_matmul
 * allocates (its packing buffers, from the pool, returned before it returns). This file is also
 * read by cffi's cdef, so it holds nothing but plain declarations outside the preprocessor lines.
 */
#ifndef PYAUTOGRAD_H
#define PYAUTOGRAD_H

#include <stddef.h>
#include <stdint.h>

/* The buffer pool (pool.c): 64-byte-aligned blocks, reused through size-classed free lists
 * while the cached total stays under a limit; thread-safe. pag_alloc returns NULL when the
 * system has no memory for the block. */
void *pag_alloc(size_t bytes);
void pag_free(void *p);
size_t pag_pool_empty(void);               /* frees every cached block; returns the bytes freed */
size_t pag_pool_cached(void);              /* bytes held in free lists now */
size_t pag_pool_limit(void);               /* the cap on cached bytes */
size_t pag_pool_set_limit(size_t bytes);   /* sets the cap on cached bytes; returns the old one */

/* The op-taking kernels (pag_binary, pag_binary_same, pag_binary_scalar, pag_unary, pag_reduce,
 * pag_select) return 0, or PAG_UNKNOWN_OP for an op outside their enum (writing nothing): the
 * Python side raises on it. The enums below list the same names, in the same order, as the
 * Python tuples BINARY_OPS, UNARY_OPS, REDUCE_OPS and SELECT_OPS of backends/base.py (a test
 * checks both against each other and against every switch). */
#define PAG_UNKNOWN_OP (-1)

enum pag_binary_op {
    PAG_ADD = 0, PAG_SUB = 1, PAG_MUL = 2, PAG_DIV = 3,
    PAG_LT = 4, PAG_LE = 5, PAG_GT = 6, PAG_GE = 7, PAG_EQ = 8, PAG_NE = 9,
    PAG_MAXIMUM = 10, PAG_MINIMUM = 11, /* NaN-propagating, as NumPy's maximum/minimum */
    PAG_POW = 12 /* C's pow, except that y = 2 is x * x and y = 0.5 is sqrt (as pag_pow_scalar) */
};

enum pag_unary_op {
    PAG_NEG = 0, PAG_EXP = 1, PAG_LOG = 2, PAG_TANH = 3, PAG_SIGMOID = 4,
    PAG_RELU = 5, PAG_ABS = 6, PAG_SIGN = 7, PAG_SQRT = 8, PAG_LOG1P = 9, PAG_EXPM1 = 10,
    PAG_SQUARE = 11, PAG_SIN = 12, PAG_COS = 13
};

enum pag_reduce_op { PAG_SUM = 0, PAG_MEAN = 1, PAG_MAX = 2 };

enum pag_select_op { PAG_MIN = 0, PAG_ARGMAX = 1, PAG_ARGMIN = 2 };

/* out[i,j] = a[i*a_rs + j*a_cs] (op) b[i*b_rs + j*b_cs] for an nrow x ncol out.
 * A stride of 0 broadcasts a dimension of size 1; a column stride other than 0 or 1 reads a
 * transposed view. out may be a itself (in-place update). */
int pag_binary(int op, size_t nrow, size_t ncol,
                const double *a, size_t a_rs, size_t a_cs,
                const double *b, size_t b_rs, size_t b_cs, double *out);

/* out[i] = a[i] (op) b[i] for two same-shape matrices of n values; out may be a. */
int pag_binary_same(int op, size_t n, const double *a, const double *b, double *out);

/* out[i] = a[i] (op) s, or s (op) a[i] when scalar_left is non-zero; out may be a. */
int pag_binary_scalar(int op, size_t n, const double *a, double s, int scalar_left, double *out);

/* out[i] = f(a[i]) for a unary op; sigmoid never overflows; out may be a. */
int pag_unary(int op, size_t n, const double *a, double *out);

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
int pag_reduce(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out);

/* out[i,j] = c[i*c_rs + j*c_cs] != 0 ? a[i*a_rs + j*a_cs] : b[i*b_rs + j*b_cs] for an nrow x ncol
 * out (a NaN condition counts as true); strides as in pag_binary, 0 broadcasting. */
void pag_where(size_t nrow, size_t ncol, const double *c, size_t c_rs, size_t c_cs,
               const double *a, size_t a_rs, size_t a_cs,
               const double *b, size_t b_rs, size_t b_cs, double *out);

/* select.c: min, argmax or argmin of a row-major nrow x ncol matrix, over all values (axis -1,
 * out[0]; an index counts row-major), down the rows (axis 0, out[ncol]) or along each row (axis 1,
 * out[nrow]). A NaN wins (the first one), as in PyTorch; among equal values the first index wins.
 * Indices are written as doubles. */
int pag_select(int op, int axis, size_t nrow, size_t ncol, const double *a, double *out);

/* index.c: out[i*nc + j] = a[rows[i]*a_rs + cols[j]*a_cs] for i < nr, j < nc. Every index was
 * checked to be in range by the caller. */
void pag_gather(size_t nr, size_t nc, const double *a, size_t a_rs, size_t a_cs,
                const int64_t *rows, const int64_t *cols, double *out);

/* index.c: out[rows[i]*out_rs + cols[j]*out_cs] = g[i*nc + j] (+= when accumulate is non-zero),
 * in order, so that repeated indices accumulate (or the last one wins). g is row-major nr x nc
 * and must not overlap out; every index was checked by the caller. */
void pag_scatter(size_t nr, size_t nc, const double *g, const int64_t *rows, const int64_t *cols,
                 double *out, size_t out_rs, size_t out_cs, int accumulate);

/* C (m x n) = op(A) @ op(B) (+ C when accumulate is non-zero), where op(A) is m x k and is A
 * (stored m x k) or A^T (A stored k x m when trans_a); likewise B (k x n, or stored n x k).
 * Cache-blocked with packed panels, on up to num_threads OpenMP threads for large products.
 * C must not overlap A or B. Takes its packing buffers from the pool: returns 0 on success, -1
 * when they cannot be had (C is then unchanged). */
int pag_matmul(int trans_a, int trans_b, size_t m, size_t n, size_t k,
               const double *a, const double *b, int accumulate, double *c, int num_threads);

/* The micro-kernel pag_matmul runs on this CPU (a static string, e.g. "6x8 AVX2+FMA"). */
const char *pag_matmul_kernel(void);

/* The float32 kernels: the same contracts as their float64 namesakes above, for float buffers
 * and float scalars (computed in float; libm's transcendental functions in double, rounded once).
 * pag_select_f32 writes indices as floats (exact up to 2^24; Python checks). */
int pag_binary_f32(int op, size_t nrow, size_t ncol,
                    const float *a, size_t a_rs, size_t a_cs,
                    const float *b, size_t b_rs, size_t b_cs, float *out);
int pag_binary_same_f32(int op, size_t n, const float *a, const float *b, float *out);
int pag_binary_scalar_f32(int op, size_t n, const float *a, float s, int scalar_left, float *out);
int pag_unary_f32(int op, size_t n, const float *a, float *out);
void pag_pow_scalar_f32(size_t n, const float *a, float p, float *out);
void pag_fill_f32(size_t n, float value, float *out);
void pag_axpy_f32(size_t n, float alpha, const float *x, float *y);

/* random.c: a 0/1 mask from the counter-based stream at position `offset` (dropout) */
void pag_random_mask(size_t n, size_t threshold, double offset, double *out);
void pag_random_mask_f32(size_t n, size_t threshold, double offset, float *out);
void pag_sigmoid_backward_f32(size_t n, const float *s, const float *grad, float *out);
void pag_transpose_f32(size_t nrow, size_t ncol, const float *a, float *out);
int pag_reduce_f32(int op, int axis, size_t nrow, size_t ncol, const float *a, float *out);
void pag_where_f32(size_t nrow, size_t ncol, const float *c, size_t c_rs, size_t c_cs,
                   const float *a, size_t a_rs, size_t a_cs,
                   const float *b, size_t b_rs, size_t b_cs, float *out);
int pag_select_f32(int op, int axis, size_t nrow, size_t ncol, const float *a, float *out);
void pag_gather_f32(size_t nr, size_t nc, const float *a, size_t a_rs, size_t a_cs,
                    const int64_t *rows, const int64_t *cols, float *out);
void pag_scatter_f32(size_t nr, size_t nc, const float *g, const int64_t *rows,
                     const int64_t *cols, float *out, size_t out_rs, size_t out_cs, int accumulate);
int pag_matmul_f32(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                   const float *a, const float *b, int accumulate, float *c, int num_threads);
const char *pag_matmul_kernel_f32(void); /* e.g. "6x16 AVX2+FMA" */

/* A captured training step (plan.c, driven by pyautograd/compile.py): the kernel launches of
 * one eager step, replayed in order by one call. Each op names the kernel it launches, its
 * integer arguments, its dtype (the float64 kernel or its _f32 twin, over buffers of that type),
 * up to three buffers (indices into the plan's buffer table) and one scalar argument, read from
 * the op itself, from the plan's scalar table (numbers Python recomputes before every replay,
 * such as Adam's bias corrections; doubles, converted to float for a float32 kernel as cffi
 * converts them for an eager call) or from the first value of a buffer of the op's dtype (a value
 * the step read with .item() and handed straight to a kernel). Python validates every index,
 * every buffer's size and element type against the kernel's when it builds the plan. */
enum pag_plan_kind {
    PAG_PLAN_BINARY = 0, PAG_PLAN_BINARY_SAME = 1, PAG_PLAN_BINARY_SCALAR = 2, PAG_PLAN_UNARY = 3,
    PAG_PLAN_POW_SCALAR = 4, PAG_PLAN_FILL = 5, PAG_PLAN_AXPY = 6, PAG_PLAN_SIGMOID_BACKWARD = 7,
    PAG_PLAN_TRANSPOSE = 8, PAG_PLAN_REDUCE = 9, PAG_PLAN_MATMUL = 10, PAG_PLAN_COPY = 11,
    PAG_PLAN_RANDOM_MASK = 12
};

enum pag_plan_scalar { PAG_SCALAR_OP = 0, PAG_SCALAR_TABLE = 1, PAG_SCALAR_BUFFER = 2 };

enum pag_plan_dtype { PAG_PLAN_FLOAT64 = 0, PAG_PLAN_FLOAT32 = 1 };

typedef struct {
    int kind;             /* enum pag_plan_kind */
    int dtype;            /* enum pag_plan_dtype: which kernel, and the buffers' type */
    int code;             /* binary/unary/reduce op code */
    int flag0, flag1;     /* scalar_left | reduce axis | matmul trans_a, trans_b */
    int accumulate;       /* matmul */
    int num_threads;      /* matmul */
    size_t size0, size1, size2;             /* n | nrow, ncol | m, n, k */
    size_t stride0, stride1, stride2, stride3; /* pag_binary: a_rs, a_cs, b_rs, b_cs */
    int buf0, buf1, out;  /* buffer table indices: inputs, output (-1 when unused) */
    int scalar_from;      /* enum pag_plan_scalar */
    int scalar_index;     /* scalar table index or buffer table index */
    double scalar;        /* the value when scalar_from is PAG_SCALAR_OP (float32: rounded) */
} pag_plan_op;

/* Run n_ops ops in order over the buffer table (double or float buffers, as the ops' dtypes
 * say) and the scalar table. Returns 0, or i + 1 when op i failed (a matmul that could not have
 * its packing buffers, an index out of range, an unknown kind, op code or dtype): the ops
 * before it have run. */
size_t pag_plan_run(const pag_plan_op *ops, size_t n_ops, void *const *buffers, size_t n_buffers,
                    const double *table, size_t n_table);

/* How the kernels were built and which variant of the hot kernels this CPU runs (static strings):
 * e.g. "x86-64-v3 (AVX2+FMA), chosen at run time"; the compiler and its version; the flags. */
const char *pag_cpu_variant(void);
const char *pag_build_compiler(void);
const char *pag_build_flags(void);

/* The OpenMP version the kernels were built with (yyyymm, as _OPENMP), or 0 without OpenMP. */
int pag_openmp_version(void);

#endif

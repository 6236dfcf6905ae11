/* Element-wise binary ops with 2-D broadcasting, scalar variants, fill, where. */
#include <math.h>

#include "dispatch.h"
#include "pyautograd.h"

static inline double ieee_div(double x, double y) { return x / y; }
static inline double maximum(double x, double y) { return (x > y || x != x) ? x : y; }
static inline double minimum(double x, double y) { return (x < y || x != x) ? x : y; }
/* x ** y as the reference's ieee_pow: exact squares, sqrt for 0.5, C's pow otherwise. */
static inline double power(double x, double y)
{
    return y == 2.0 ? x * x : (y == 0.5 ? sqrt(x) : pow(x, y));
}

/* One loop nest per op: the op is chosen once, outside the loops, so each inner loop is a plain
 * vectorisable body. The unit-stride case is split out for the compiler. */
#define PAG_BINARY_LOOP(EXPR)                                                            \
    for (size_t i = 0; i < nrow; ++i) {                                                  \
        const double *ra = a + i * a_rs;                                                 \
        const double *rb = b + i * b_rs;                                                 \
        double *ro = out + i * ncol;                                                     \
        if (a_cs == 1 && b_cs == 1) {                                                    \
            for (size_t j = 0; j < ncol; ++j) { double x = ra[j], y = rb[j]; ro[j] = (EXPR); } \
        } else if (a_cs == 1 && b_cs == 0) {                                             \
            double y = rb[0];                                                            \
            for (size_t j = 0; j < ncol; ++j) { double x = ra[j]; ro[j] = (EXPR); }      \
        } else if (a_cs == 0 && b_cs == 1) {                                             \
            double x = ra[0];                                                            \
            for (size_t j = 0; j < ncol; ++j) { double y = rb[j]; ro[j] = (EXPR); }      \
        } else if (a_cs == 0 && b_cs == 0) {                                             \
            double x = ra[0], y = rb[0], v = (EXPR);                                     \
            for (size_t j = 0; j < ncol; ++j) ro[j] = v;                                 \
        } else { /* a transposed view: any strides */                                    \
            for (size_t j = 0; j < ncol; ++j) {                                          \
                double x = ra[j * a_cs], y = rb[j * b_cs]; ro[j] = (EXPR);               \
            }                                                                            \
        }                                                                                \
    }

PAG_HOT
void pag_binary(int op, size_t nrow, size_t ncol,
                const double *a, size_t a_rs, size_t a_cs,
                const double *b, size_t b_rs, size_t b_cs, double *out)
{
    switch (op) {
    case PAG_ADD: PAG_BINARY_LOOP(x + y) break;
    case PAG_SUB: PAG_BINARY_LOOP(x - y) break;
    case PAG_MUL: PAG_BINARY_LOOP(x * y) break;
    case PAG_DIV: PAG_BINARY_LOOP(ieee_div(x, y)) break;
    case PAG_LT: PAG_BINARY_LOOP(x < y ? 1.0 : 0.0) break;
    case PAG_LE: PAG_BINARY_LOOP(x <= y ? 1.0 : 0.0) break;
    case PAG_GT: PAG_BINARY_LOOP(x > y ? 1.0 : 0.0) break;
    case PAG_GE: PAG_BINARY_LOOP(x >= y ? 1.0 : 0.0) break;
    case PAG_EQ: PAG_BINARY_LOOP(x == y ? 1.0 : 0.0) break;
    case PAG_NE: PAG_BINARY_LOOP(x != y ? 1.0 : 0.0) break;
    case PAG_MAXIMUM: PAG_BINARY_LOOP(maximum(x, y)) break;
    case PAG_MINIMUM: PAG_BINARY_LOOP(minimum(x, y)) break;
    case PAG_POW: PAG_BINARY_LOOP(power(x, y)) break;
    default: break;
    }
}

PAG_HOT
void pag_binary_same(int op, size_t n, const double *a, const double *b, double *out)
{
    pag_binary(op, 1, n, a, 0, 1, b, 0, 1, out);
}

#define PAG_SCALAR_LOOP(EXPR) \
    for (size_t i = 0; i < n; ++i) { double x = a[i]; out[i] = (EXPR); }

PAG_HOT
void pag_binary_scalar(int op, size_t n, const double *a, double s, int scalar_left, double *out)
{
    if (scalar_left) {
        switch (op) {
        case PAG_ADD: PAG_SCALAR_LOOP(s + x) break;
        case PAG_SUB: PAG_SCALAR_LOOP(s - x) break;
        case PAG_MUL: PAG_SCALAR_LOOP(s * x) break;
        case PAG_DIV: PAG_SCALAR_LOOP(ieee_div(s, x)) break;
        case PAG_LT: PAG_SCALAR_LOOP(s < x ? 1.0 : 0.0) break;
        case PAG_LE: PAG_SCALAR_LOOP(s <= x ? 1.0 : 0.0) break;
        case PAG_GT: PAG_SCALAR_LOOP(s > x ? 1.0 : 0.0) break;
        case PAG_GE: PAG_SCALAR_LOOP(s >= x ? 1.0 : 0.0) break;
        case PAG_EQ: PAG_SCALAR_LOOP(s == x ? 1.0 : 0.0) break;
        case PAG_NE: PAG_SCALAR_LOOP(s != x ? 1.0 : 0.0) break;
        case PAG_MAXIMUM: PAG_SCALAR_LOOP(maximum(s, x)) break;
        case PAG_MINIMUM: PAG_SCALAR_LOOP(minimum(s, x)) break;
        case PAG_POW: PAG_SCALAR_LOOP(power(s, x)) break;
        default: break;
        }
        return;
    }
    switch (op) {
    case PAG_ADD: PAG_SCALAR_LOOP(x + s) break;
    case PAG_SUB: PAG_SCALAR_LOOP(x - s) break;
    case PAG_MUL: PAG_SCALAR_LOOP(x * s) break;
    case PAG_DIV: PAG_SCALAR_LOOP(ieee_div(x, s)) break;
    case PAG_LT: PAG_SCALAR_LOOP(x < s ? 1.0 : 0.0) break;
    case PAG_LE: PAG_SCALAR_LOOP(x <= s ? 1.0 : 0.0) break;
    case PAG_GT: PAG_SCALAR_LOOP(x > s ? 1.0 : 0.0) break;
    case PAG_GE: PAG_SCALAR_LOOP(x >= s ? 1.0 : 0.0) break;
    case PAG_EQ: PAG_SCALAR_LOOP(x == s ? 1.0 : 0.0) break;
    case PAG_NE: PAG_SCALAR_LOOP(x != s ? 1.0 : 0.0) break;
    case PAG_MAXIMUM: PAG_SCALAR_LOOP(maximum(x, s)) break;
    case PAG_MINIMUM: PAG_SCALAR_LOOP(minimum(x, s)) break;
    case PAG_POW: PAG_SCALAR_LOOP(power(x, s)) break;
    default: break;
    }
}

void pag_where(size_t nrow, size_t ncol, const double *c, size_t c_rs, size_t c_cs,
               const double *a, size_t a_rs, size_t a_cs,
               const double *b, size_t b_rs, size_t b_cs, double *out)
{
    for (size_t i = 0; i < nrow; ++i)
        for (size_t j = 0; j < ncol; ++j)
            out[i * ncol + j] = c[i * c_rs + j * c_cs] != 0.0 ? a[i * a_rs + j * a_cs]
                                                              : b[i * b_rs + j * b_cs];
}

PAG_HOT
void pag_fill(size_t n, double value, double *out)
{
    for (size_t i = 0; i < n; ++i) out[i] = value;
}

PAG_HOT
void pag_axpy(size_t n, double alpha, const double *x, double *y)
{
    for (size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

PAG_HOT
void pag_sigmoid_backward(size_t n, const double *s, const double *grad, double *out)
{
    for (size_t i = 0; i < n; ++i) out[i] = s[i] * (1.0 - s[i]) * grad[i];
}

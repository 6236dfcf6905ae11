/* Element-wise unary math and pow with a scalar exponent, with C's IEEE 754 results. */
#include <math.h>

#include "pyautograd.h"

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise: exp never sees a large positive
 * argument, so nothing overflows; NaN stays NaN. */
static inline double sigmoid(double x)
{
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline double sign(double x)
{
    return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : (x != x ? x : 0.0));
}

static inline double relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }

#define PAG_UNARY_LOOP(EXPR) \
    for (size_t i = 0; i < n; ++i) { double x = a[i]; out[i] = (EXPR); }

void pag_unary(int op, size_t n, const double *a, double *out)
{
    switch (op) {
    case PAG_NEG: PAG_UNARY_LOOP(-x) break;
    case PAG_EXP: PAG_UNARY_LOOP(exp(x)) break;
    case PAG_LOG: PAG_UNARY_LOOP(log(x)) break;
    case PAG_TANH: PAG_UNARY_LOOP(tanh(x)) break;
    case PAG_SIGMOID: PAG_UNARY_LOOP(sigmoid(x)) break;
    case PAG_RELU: PAG_UNARY_LOOP(relu(x)) break;
    case PAG_ABS: PAG_UNARY_LOOP(fabs(x)) break;
    case PAG_SIGN: PAG_UNARY_LOOP(sign(x)) break;
    default: break;
    }
}

void pag_pow_scalar(size_t n, const double *a, double p, double *out)
{
    if (p == 2.0) {
        for (size_t i = 0; i < n; ++i) out[i] = a[i] * a[i];
    } else if (p == 1.0) {
        for (size_t i = 0; i < n; ++i) out[i] = a[i];
    } else {
        for (size_t i = 0; i < n; ++i) out[i] = pow(a[i], p);
    }
}

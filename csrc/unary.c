/* Element-wise unary math and pow with a scalar exponent, with C's IEEE 754 results. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "pyautograd.h"

/* Fused multiply-adds for the exp polynomial (1.5x faster): these results are checked to a few
 * ulp against the reference, not bit for bit. No trapping math: nothing here reads the floating-
 * point exception flags, and without it the clamps and NaN tests in exp and sigmoid are branches
 * that keep the loops from vectorising (values are unchanged either way). */
#pragma GCC optimize("fp-contract=fast", "no-trapping-math")

/* 2^k for an integer-valued double k in [-1022, 1023], built from its bits. Adding 1.5 * 2^52
 * leaves k in the low bits of the sum's mantissa, so no double-to-integer conversion is needed:
 * AVX2 has none for 64-bit integers, and with one the exp loop would not vectorise there. */
static inline double pow2d(double k)
{
    double shifted = k + 6755399441055744.0;
    uint64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - UINT64_C(0x4338000000000000) + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* e^x without a function call, so that loops over it vectorise (libm's exp does not).
 * x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split in a high part exact in k's range and
 * a low part); e^r by its Taylor series to r^13 (truncation < 1e-17 relative); e^x = e^r 2^k,
 * the power of two applied in two exact halves so that subnormal results round only once.
 * Within 2 ulp of the correctly rounded value; IEEE at the edges (inf, 0, nan). */
static inline double fast_exp(double x)
{
    const double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10;
    double xc = x > 709.8 ? 709.8 : (x < -745.2 ? -745.2 : x);
    xc = x != x ? 0.0 : xc;
    double kf = nearbyint(xc * log2e);
    double r = (xc - kf * ln2_hi) - kf * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    double k1 = trunc(kf * 0.5);
    double y = p * pow2d(k1) * pow2d(kf - k1);
    y = x > 709.782712893384 ? (double)INFINITY : y;
    return x != x ? x : y;
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise: exp never sees a large positive
 * argument, so nothing overflows; NaN stays NaN. */
static inline double sigmoid(double x)
{
    double e = fast_exp(-fabs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : (x != x ? x : e / (1.0 + e));
}

static inline double sign(double x)
{
    return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : (x != x ? x : 0.0));
}

static inline double relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }

#define PAG_UNARY_LOOP(EXPR) \
    for (size_t i = 0; i < n; ++i) { double x = a[i]; out[i] = (EXPR); }

PAG_HOT
void pag_unary(int op, size_t n, const double *a, double *out)
{
    switch (op) {
    case PAG_NEG: PAG_UNARY_LOOP(-x) break;
    case PAG_EXP: PAG_UNARY_LOOP(fast_exp(x)) break;
    case PAG_LOG: PAG_UNARY_LOOP(log(x)) break;
    case PAG_TANH: PAG_UNARY_LOOP(tanh(x)) break;
    case PAG_SIGMOID: PAG_UNARY_LOOP(sigmoid(x)) break;
    case PAG_RELU: PAG_UNARY_LOOP(relu(x)) break;
    case PAG_ABS: PAG_UNARY_LOOP(fabs(x)) break;
    case PAG_SIGN: PAG_UNARY_LOOP(sign(x)) break;
    case PAG_SQRT: PAG_UNARY_LOOP(sqrt(x)) break;
    case PAG_LOG1P: PAG_UNARY_LOOP(log1p(x)) break;
    case PAG_EXPM1: PAG_UNARY_LOOP(expm1(x)) break;
    case PAG_SQUARE: PAG_UNARY_LOOP(x * x) break;
    default: break;
    }
}

PAG_HOT
void pag_pow_scalar(size_t n, const double *a, double p, double *out)
{
    if (p == 2.0) {
        for (size_t i = 0; i < n; ++i) out[i] = a[i] * a[i];
    } else if (p == 1.0) {
        for (size_t i = 0; i < n; ++i) out[i] = a[i];
    } else if (p == 0.5) { /* as NumPy and PyTorch: sqrt, so (-inf) ** 0.5 is nan, not +inf */
        for (size_t i = 0; i < n; ++i) out[i] = sqrt(a[i]);
    } else {
        for (size_t i = 0; i < n; ++i) out[i] = pow(a[i], p);
    }
}

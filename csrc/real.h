/* The element type of one instantiation of a kernel template (the csrc .inc files).
 *
 * Every kernel body is written once, in a .inc file, over the macros below; its .c file includes
 * it twice: with PAG_F32 0 (double; the names declared in pyautograd.h) and with PAG_F32 1
 * (float; the same names ending in _f32). No include guard: each inclusion redefines the macros
 * for the instantiation that follows it (internal to csrc/, not part of the kernel API).
 *
 *   real        the element type
 *   FN(name)    the instantiation's name of a kernel or helper: name, or name_f32
 *   R(c)        a constant as a real (so float code never computes in double by accident)
 *   EXACT(fn)   a correctly rounded libm function in the instantiation's precision
 *               (sqrt, fabs, nearbyint, trunc: the same result in either precision)
 *   LIBM(fn, x) a transcendental function of libm (log, tanh, log1p, expm1, pow): for float it is
 *               computed in double and rounded once, which is what the pure-Python backend's
 *               float32 emulation does, so the two agree to the bit
 */
#undef real
#undef FN
#undef R
#undef EXACT
#undef LIBM
#undef LIBM2
#undef PAG_REAL_NAME
#if PAG_F32
#define real float
#define FN(name) name##_f32
#define R(c) ((float)(c))
#define EXACT(fn) fn##f
#define LIBM(fn, x) ((float)fn((double)(x)))
#define LIBM2(fn, x, y) ((float)fn((double)(x), (double)(y)))
#define PAG_REAL_NAME "float32"
#else
#define real double
#define FN(name) name
#define R(c) ((double)(c))
#define EXACT(fn) fn
#define LIBM(fn, x) fn(x)
#define LIBM2(fn, x, y) fn((x), (y))
#define PAG_REAL_NAME "float64"
#endif

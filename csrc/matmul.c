/* Matrix product C = op(A) @ op(B) (+ C), cache-blocked with packed panels (see matmul.inc, the
 * body, written once over csrc/real.h's element type and compiled here for float64 and float32).
 */
#include <stdlib.h>
#include <string.h>

/* PAG_MATMUL_PORTABLE (the sanitizer build sets it) keeps the portable kernel everywhere, so
 * that the test suite exercises it too. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(PAG_MATMUL_PORTABLE)
#include <immintrin.h>
#define HAVE_AVX2_KERNEL 1
#else
#define HAVE_AVX2_KERNEL 0
#endif

#include "dispatch.h"
#include "pyautograd.h"

/* Fused multiply-adds here (and only here): a product's result is checked against a rounding
 * bound, not bit for bit, and without them the micro-kernel runs at half speed. */
#pragma GCC optimize("fp-contract=fast")

/* Block sizes of each precision (KC_R, MC_R, NC_R below): MC a multiple of every kernel's MR. */
#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 120
#endif
#ifndef NC
#define NC 2048
#endif
/* float32: a deeper KC (the packed panels hold twice the values per byte), measured on Zen 3
 * in CPU time against OpenBLAS's sgemm: 0.98-1.01x at n = 1024 where 256/120/2048 gave 0.95. */
#ifndef KC_F32
#define KC_F32 512
#endif
#ifndef MC_F32
#define MC_F32 96
#endif
#ifndef NC_F32
#define NC_F32 1024
#endif
#define SMALL_WORK 4096 /* m * n * k at or below which packing costs more than it saves */
#define PARALLEL_WORK 3.0e7 /* m * n * k below which a second thread costs more than it saves:
                              * measured in the training steps, where thread wake-ups between
                              * Python-side ops cost more than in a loop of products alone */

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

#define PAG_F32 0
#define KC_R KC
#define MC_R MC
#define NC_R NC
#include "real.h"
#include "matmul.inc"
#undef PAG_F32
#undef KC_R
#undef MC_R
#undef NC_R

#define PAG_F32 1
#define KC_R KC_F32
#define MC_R MC_F32
#define NC_R NC_F32
#include "real.h"
#include "matmul.inc"
#undef PAG_F32

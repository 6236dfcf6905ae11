/* Matrix product C = op(A) @ op(B) (+ C), cache-blocked with packed panels.
 *
 * The blocking follows the classic GotoBLAS/BLIS structure: a KC x NC block of op(B) is packed
 * into panels NR columns wide, an MC x KC block of op(A) into panels MR rows high, and a
 * register-blocked MR x NR micro-kernel runs over them. Packing reads op(A) and op(B) through
 * strides, so the transposed products of the backward pass cost no transposed copy. Panels are
 * zero-padded at the edges, so every size (1, 7, 33, 65, 129, ...) takes the same path.
 *
 * The micro-kernel is the one piece tied to the instruction set, so there are two, chosen at
 * run time: 6 x 8 with AVX2 and FMA (twelve 4-wide accumulators, two B vectors and one
 * broadcast A value: 15 of the 16 vector registers; CPUs with AVX-512 run it too), and a plain
 * C 4 x 4 for everything else. The tile sizes travel with the kernel, so packing and blocking
 * serve both.
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

#ifndef KC
#define KC 256
#endif
#ifndef MC
#define MC 120 /* a multiple of every kernel's MR */
#endif
#define NC 2048
#define SMALL_WORK 4096 /* m * n * k at or below which packing costs more than it saves */
#define PARALLEL_WORK 3.0e7 /* m * n * k below which a second thread costs more than it saves:
                              * measured in the training steps, where thread wake-ups between
                              * Python-side ops cost more than in a loop of products alone */

/* acc = sum over p of ap[p] (mr values) times bp[p] (nr values); then C[:rows, :cols] = acc, or
 * += acc when add is non-zero (rows <= mr and cols <= nr, less at the edges of C). */
typedef void micro_kernel_fn(size_t kc, const double *restrict ap, const double *restrict bp,
                             double *restrict c, size_t ldc, size_t rows, size_t cols, int add);

typedef struct {
    size_t mr, nr;
    micro_kernel_fn *run;
    const char *name;
} kernel;

/* Write an accumulator tile (row stride nr) into C's rows x cols corner. */
static void store_tile(const double *acc, size_t nr, double *c, size_t ldc, size_t rows,
                       size_t cols, int add)
{
    for (size_t i = 0; i < rows; ++i) {
        const double *ai = acc + i * nr;
        double *ci = c + i * ldc;
        if (add) {
            for (size_t j = 0; j < cols; ++j) ci[j] += ai[j];
        } else {
            for (size_t j = 0; j < cols; ++j) ci[j] = ai[j];
        }
    }
}

/* Plain C, 4 x 4: sixteen accumulators that any compiler keeps in registers. */
#define C_MR 4
#define C_NR 4
static void micro_kernel_c(size_t kc, const double *restrict ap, const double *restrict bp,
                           double *restrict c, size_t ldc, size_t rows, size_t cols, int add)
{
    double acc[C_MR * C_NR] = {0.0};
    for (size_t p = 0; p < kc; ++p) {
        for (int i = 0; i < C_MR; ++i) {
            double ai = ap[i];
            for (int j = 0; j < C_NR; ++j) acc[i * C_NR + j] += ai * bp[j];
        }
        ap += C_MR;
        bp += C_NR;
    }
    store_tile(acc, C_NR, c, ldc, rows, cols, add);
}

#if HAVE_AVX2_KERNEL
/* AVX2 + FMA, 6 x 8: per step of p, two loads of B, six broadcasts of A, twelve FMAs. */
__attribute__((target("avx2,fma")))
static void micro_kernel_avx2(size_t kc, const double *restrict ap, const double *restrict bp,
                              double *restrict c, size_t ldc, size_t rows, size_t cols, int add)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t p = 0; p < kc; ++p) {
        __m256d b0 = _mm256_loadu_pd(bp), b1 = _mm256_loadu_pd(bp + 4), a;
        a = _mm256_broadcast_sd(ap + 0);
        c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
        a = _mm256_broadcast_sd(ap + 1);
        c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
        a = _mm256_broadcast_sd(ap + 2);
        c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
        a = _mm256_broadcast_sd(ap + 3);
        c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
        a = _mm256_broadcast_sd(ap + 4);
        c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
        a = _mm256_broadcast_sd(ap + 5);
        c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
        ap += 6;
        bp += 8;
    }
    double acc[6 * 8];
    _mm256_storeu_pd(acc + 0, c00); _mm256_storeu_pd(acc + 4, c01);
    _mm256_storeu_pd(acc + 8, c10); _mm256_storeu_pd(acc + 12, c11);
    _mm256_storeu_pd(acc + 16, c20); _mm256_storeu_pd(acc + 20, c21);
    _mm256_storeu_pd(acc + 24, c30); _mm256_storeu_pd(acc + 28, c31);
    _mm256_storeu_pd(acc + 32, c40); _mm256_storeu_pd(acc + 36, c41);
    _mm256_storeu_pd(acc + 40, c50); _mm256_storeu_pd(acc + 44, c51);
    store_tile(acc, 8, c, ldc, rows, cols, add);
}
#endif

/* The micro-kernel this CPU runs. */
static kernel choose_kernel(void)
{
#if HAVE_AVX2_KERNEL
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (kernel){6, 8, micro_kernel_avx2, "6x8 AVX2+FMA"};
#endif
    return (kernel){C_MR, C_NR, micro_kernel_c, "4x4 portable C"};
}

const char *pag_matmul_kernel(void) { return choose_kernel().name; }

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Pack `rows` rows of op(A) (element (i, p) at a[i*is + p*ps]) x kc columns into one panel:
 * for each p, the values of those rows, zero-padded to mr. */
static void pack_a_panel(size_t rows, size_t mr, size_t kc, const double *a, size_t is,
                         size_t ps, double *ap)
{
    for (size_t p = 0; p < kc; ++p) {
        const double *src = a + p * ps;
        size_t i = 0;
        for (; i < rows; ++i) ap[i] = src[i * is];
        for (; i < mr; ++i) ap[i] = 0.0;
        ap += mr;
    }
}

/* Pack kc rows x `cols` columns of op(B) (element (p, j) at b[p*ps + j*js]) into one panel:
 * for each p, the values of those columns, zero-padded to nr. */
static void pack_b_panel(size_t kc, size_t cols, size_t nr, const double *b, size_t ps,
                         size_t js, double *bp)
{
    for (size_t p = 0; p < kc; ++p) {
        const double *src = b + p * ps;
        size_t j = 0;
        if (js == 1) {
            for (; j < cols; ++j) bp[j] = src[j];
        } else {
            for (; j < cols; ++j) bp[j] = src[j * js];
        }
        for (; j < nr; ++j) bp[j] = 0.0;
        bp += nr;
    }
}

/* C (m x 1) (+)= op(A) b for a contiguous row-major A and contiguous b: one dot product per
 * row, with 8 partial sums so that it vectorises (the order of the sum is a product's own
 * business: results are checked against a rounding bound, not bit for bit). */
PAG_HOT
static void matvec(size_t m, size_t k, const double *a, const double *b, int accumulate, double *c)
{
    for (size_t i = 0; i < m; ++i) {
        const double *row = a + i * k;
        double part[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
        size_t p = 0;
        for (; p + 8 <= k; p += 8)
            for (int u = 0; u < 8; ++u) part[u] += row[p + u] * b[p + u];
        double sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        for (; p < k; ++p) sum += row[p] * b[p];
        c[i] = accumulate ? c[i] + sum : sum;
    }
}

/* C (m x 1) (+)= A^T b for A stored k x m, row-major, and a contiguous b: C accumulates the rows
 * of A scaled by b's values (contiguous, vectorisable), where the i-p-j loops of matmul_small
 * would stride down A's columns one value at a time (a weight's gradient in X @ w.T). */
PAG_HOT
static void vecmat(size_t m, size_t k, const double *a, const double *b, int accumulate, double *c)
{
    if (!accumulate) memset(c, 0, m * sizeof(double));
    for (size_t p = 0; p < k; ++p) {
        const double *row = a + p * m;
        double bp = b[p];
        for (size_t i = 0; i < m; ++i) c[i] += bp * row[i];
    }
}

/* Unpacked i-p-j loops for small products, where packing would dominate. */
PAG_HOT
static void matmul_small(size_t m, size_t n, size_t k, const double *a, size_t a_is, size_t a_ps,
                         const double *b, size_t b_ps, size_t b_js, int accumulate, double *c)
{
    if (!accumulate) memset(c, 0, m * n * sizeof(double));
    for (size_t i = 0; i < m; ++i) {
        double *ci = c + i * n;
        for (size_t p = 0; p < k; ++p) {
            double aip = a[i * a_is + p * a_ps];
            const double *bp = b + p * b_ps;
            if (b_js == 1) {
                for (size_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
            } else {
                for (size_t j = 0; j < n; ++j) ci[j] += aip * bp[j * b_js];
            }
        }
    }
}

/* The columns [j0, j1) of C, single-threaded, with the caller's packing buffers. */
static void matmul_columns(kernel kern, size_t m, size_t j0, size_t j1, size_t n, size_t k,
                           const double *a, size_t a_is, size_t a_ps,
                           const double *b, size_t b_ps, size_t b_js,
                           int accumulate, double *c, double *ap, double *bp)
{
    const size_t mr = kern.mr, nr = kern.nr;
    for (size_t jc = j0; jc < j1; jc += NC) {
        size_t nc = min_size(NC, j1 - jc);
        size_t b_panels = (nc + nr - 1) / nr;
        for (size_t pc = 0; pc < k; pc += KC) {
            size_t kc = min_size(KC, k - pc);
            int add = accumulate || pc > 0;
            for (size_t q = 0; q < b_panels; ++q)
                pack_b_panel(kc, min_size(nr, nc - q * nr), nr, b + pc * b_ps + (jc + q * nr) * b_js,
                             b_ps, b_js, bp + q * kc * nr);
            for (size_t ic = 0; ic < m; ic += MC) {
                size_t mc = min_size(MC, m - ic);
                size_t a_panels = (mc + mr - 1) / mr;
                for (size_t r = 0; r < a_panels; ++r)
                    pack_a_panel(min_size(mr, mc - r * mr), mr, kc,
                                 a + (ic + r * mr) * a_is + pc * a_ps, a_is, a_ps, ap + r * kc * mr);
                for (size_t q = 0; q < b_panels; ++q) {
                    const double *bpanel = bp + q * kc * nr;
                    for (size_t r = 0; r < a_panels; ++r) {
                        kern.run(kc, ap + r * kc * mr, bpanel, c + (ic + r * mr) * n + jc + q * nr,
                                 n, min_size(mr, mc - r * mr), min_size(nr, nc - q * nr), add);
                    }
                }
            }
        }
    }
}

int pag_matmul(int trans_a, int trans_b, size_t m, size_t n, size_t k,
               const double *a, const double *b, int accumulate, double *c, int num_threads)
{
    size_t a_is = trans_a ? 1 : k, a_ps = trans_a ? m : 1;
    size_t b_ps = trans_b ? 1 : n, b_js = trans_b ? k : 1;
    if (n == 1 && a_ps == 1 && b_ps == 1) {
        matvec(m, k, a, b, accumulate, c);
        return 0;
    }
    if (n == 1 && a_is == 1 && b_ps == 1) {
        vecmat(m, k, a, b, accumulate, c);
        return 0;
    }
    if (m * n * k <= SMALL_WORK || m < 2 || n < 2 || k <= 8) {
        matmul_small(m, n, k, a, a_is, a_ps, b, b_ps, b_js, accumulate, c);
        return 0;
    }
    /* Threads split C's columns in nr-aligned slices and work independently, each with its
     * own packing buffers (all allocated here, before any work, so a failure changes nothing). */
    const kernel kern = choose_kernel();
    const size_t mr = kern.mr, nr = kern.nr;
    size_t panels = (n + nr - 1) / nr;
    size_t threads = (num_threads > 1 && (double)m * n * k >= PARALLEL_WORK) ? (size_t)num_threads : 1;
    threads = min_size(threads, panels);
    size_t per_thread = (panels + threads - 1) / threads * nr;
    size_t kc_max = min_size(KC, k);
    size_t mc_max = (min_size(MC, m) + mr - 1) / mr * mr;
    size_t nc_max = (min_size(NC, per_thread) + nr - 1) / nr * nr;
    size_t a_size = mc_max * kc_max, b_size = kc_max * nc_max;
    double *buffers = pag_alloc(threads * (a_size + b_size) * sizeof(double));
    if (buffers == NULL) return -1;
#pragma omp parallel for num_threads((int)threads) schedule(static) if (threads > 1)
    for (size_t t = 0; t < threads; ++t) {
        size_t j0 = t * per_thread, j1 = min_size(n, j0 + per_thread);
        double *ap = buffers + t * (a_size + b_size);
        if (j0 < j1)
            matmul_columns(kern, m, j0, j1, n, k, a, a_is, a_ps, b, b_ps, b_js, accumulate, c,
                           ap, ap + a_size);
    }
    pag_free(buffers);
    return 0;
}

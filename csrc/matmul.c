/* Matrix product C = op(A) @ op(B) (+ C), cache-blocked with packed panels.
 *
 * The blocking follows the classic GotoBLAS/BLIS structure: a KC x NC block of op(B) is packed
 * into panels NR columns wide, an MC x KC block of op(A) into panels MR rows high, and a
 * register-blocked MR x NR micro-kernel runs over them. Packing reads op(A) and op(B) through
 * strides, so the transposed products of the backward pass cost no transposed copy. Panels are
 * zero-padded at the edges, so every size (1, 7, 33, 65, 129, ...) takes the same path.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "pyautograd.h"

/* Fused multiply-adds here (and only here): a product's result is checked against a rounding
 * bound, not bit for bit, and without them the micro-kernel runs at half speed. */
#pragma GCC optimize("fp-contract=fast")

#ifndef MR
#define MR 6
#endif
#ifndef NR
#define NR 32
#endif
#ifndef KC
#define KC 512
#endif
#ifndef MC
#define MC 144
#endif
#define NC 2048
#define SMALL_WORK 4096 /* m * n * k at or below which packing costs more than it saves */
#define PARALLEL_WORK 2.0e6 /* m * n * k below which a second thread costs more than it saves */

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Pack MR rows (rows r .. r+rows-1 of op(A), element (i, p) at a[i*is + p*ps]) x kc columns
 * into one panel: for each p, the MR values of those rows, zero-padded to MR. */
static void pack_a_panel(size_t rows, size_t kc, const double *a, size_t is, size_t ps,
                         double *ap)
{
    for (size_t p = 0; p < kc; ++p) {
        const double *src = a + p * ps;
        size_t i = 0;
        for (; i < rows; ++i) ap[i] = src[i * is];
        for (; i < MR; ++i) ap[i] = 0.0;
        ap += MR;
    }
}

/* Pack kc rows x NR columns of op(B) (element (p, j) at b[p*ps + j*js]) into one panel: for
 * each p, the NR values of those columns, zero-padded to NR. */
static void pack_b_panel(size_t kc, size_t cols, const double *b, size_t ps, size_t js,
                         double *bp)
{
    for (size_t p = 0; p < kc; ++p) {
        const double *src = b + p * ps;
        size_t j = 0;
        if (js == 1) {
            for (; j < cols; ++j) bp[j] = src[j];
        } else {
            for (; j < cols; ++j) bp[j] = src[j * js];
        }
        for (; j < NR; ++j) bp[j] = 0.0;
        bp += NR;
    }
}

/* acc = sum over p of ap[p] (MR values) times bp[p] (NR values); then C[:mr, :nr] = acc, or
 * += acc when add is non-zero. The fixed-size accumulator lives in registers. */
PAG_HOT
static void micro_kernel(size_t kc, const double *restrict ap, const double *restrict bp,
                         double *restrict c, size_t ldc, size_t mr, size_t nr, int add)
{
    double acc[MR][NR];
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] = 0.0;
    for (size_t p = 0; p < kc; ++p) {
        const double *av = ap + p * MR;
        const double *bv = bp + p * NR;
        /* Fully unrolled, the accumulator stays in vector registers (8x slower without). */
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            double ai = av[i];
#pragma GCC unroll 16
            for (int j = 0; j < NR; ++j) acc[i][j] += ai * bv[j];
        }
    }
    if (mr == MR && nr == NR) {
        for (int i = 0; i < MR; ++i) {
            double *ci = c + i * ldc;
            if (add) {
                for (int j = 0; j < NR; ++j) ci[j] += acc[i][j];
            } else {
                for (int j = 0; j < NR; ++j) ci[j] = acc[i][j];
            }
        }
        return;
    }
    for (size_t i = 0; i < mr; ++i) {
        double *ci = c + i * ldc;
        for (size_t j = 0; j < nr; ++j) ci[j] = add ? ci[j] + acc[i][j] : acc[i][j];
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
static void matmul_columns(size_t m, size_t j0, size_t j1, size_t n, size_t k,
                           const double *a, size_t a_is, size_t a_ps,
                           const double *b, size_t b_ps, size_t b_js,
                           int accumulate, double *c, double *ap, double *bp)
{
    for (size_t jc = j0; jc < j1; jc += NC) {
        size_t nc = min_size(NC, j1 - jc);
        size_t b_panels = (nc + NR - 1) / NR;
        for (size_t pc = 0; pc < k; pc += KC) {
            size_t kc = min_size(KC, k - pc);
            int add = accumulate || pc > 0;
            for (size_t q = 0; q < b_panels; ++q)
                pack_b_panel(kc, min_size(NR, nc - q * NR), b + pc * b_ps + (jc + q * NR) * b_js,
                             b_ps, b_js, bp + q * kc * NR);
            for (size_t ic = 0; ic < m; ic += MC) {
                size_t mc = min_size(MC, m - ic);
                size_t a_panels = (mc + MR - 1) / MR;
                for (size_t r = 0; r < a_panels; ++r)
                    pack_a_panel(min_size(MR, mc - r * MR), kc, a + (ic + r * MR) * a_is + pc * a_ps,
                                 a_is, a_ps, ap + r * kc * MR);
                for (size_t q = 0; q < b_panels; ++q) {
                    const double *bpanel = bp + q * kc * NR;
                    for (size_t r = 0; r < a_panels; ++r) {
                        micro_kernel(kc, ap + r * kc * MR, bpanel,
                                     c + (ic + r * MR) * n + jc + q * NR, n,
                                     min_size(MR, mc - r * MR), min_size(NR, nc - q * NR), add);
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
    if (m * n * k <= SMALL_WORK || m < 2 || n < 2 || k <= 8) {
        matmul_small(m, n, k, a, a_is, a_ps, b, b_ps, b_js, accumulate, c);
        return 0;
    }
    /* Threads split C's columns in NR-aligned slices and work independently, each with its
     * own packing buffers (all allocated here, before any work, so a failure changes nothing). */
    size_t panels = (n + NR - 1) / NR;
    size_t threads = (num_threads > 1 && (double)m * n * k >= PARALLEL_WORK) ? (size_t)num_threads : 1;
    threads = min_size(threads, panels);
    size_t per_thread = (panels + threads - 1) / threads * NR;
    size_t kc_max = min_size(KC, k);
    size_t mc_max = (min_size(MC, m) + MR - 1) / MR * MR;
    size_t nc_max = (min_size(NC, per_thread) + NR - 1) / NR * NR;
    size_t a_size = mc_max * kc_max, b_size = kc_max * nc_max;
    double *buffers = malloc(threads * (a_size + b_size) * sizeof(double));
    if (buffers == NULL) return -1;
#pragma omp parallel for num_threads((int)threads) schedule(static) if (threads > 1)
    for (size_t t = 0; t < threads; ++t) {
        size_t j0 = t * per_thread, j1 = min_size(n, j0 + per_thread);
        double *ap = buffers + t * (a_size + b_size);
        if (j0 < j1)
            matmul_columns(m, j0, j1, n, k, a, a_is, a_ps, b, b_ps, b_js, accumulate, c, ap,
                           ap + a_size);
    }
    free(buffers);
    return 0;
}

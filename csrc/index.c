/* Indexing: gather a block of rows and columns (m[key]) and scatter one back (its gradient, and
 * m[key] = value). The Python caller checked every index against the shape. */
#include "pyautograd.h"

void pag_gather(size_t nr, size_t nc, const double *a, size_t a_rs, size_t a_cs,
                const int64_t *rows, const int64_t *cols, double *out)
{
    for (size_t i = 0; i < nr; ++i) {
        const double *row = a + (size_t)rows[i] * a_rs;
        for (size_t j = 0; j < nc; ++j) out[i * nc + j] = row[(size_t)cols[j] * a_cs];
    }
}

void pag_scatter(size_t nr, size_t nc, const double *g, const int64_t *rows, const int64_t *cols,
                 double *out, size_t out_rs, size_t out_cs, int accumulate)
{
    for (size_t i = 0; i < nr; ++i) {
        double *row = out + (size_t)rows[i] * out_rs;
        if (accumulate) {
            for (size_t j = 0; j < nc; ++j) row[(size_t)cols[j] * out_cs] += g[i * nc + j];
        } else {
            for (size_t j = 0; j < nc; ++j) row[(size_t)cols[j] * out_cs] = g[i * nc + j];
        }
    }
}

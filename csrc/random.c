/* Random masks drawn from a counter-based generator (splitmix64 of the position in one stream),
 * so that a compiled step replays dropout with fresh numbers: the only state is the stream's
 * position, a number Python passes in (as a double, exact below 2^53) and advances itself.
 * Value i is kept (1) when the top 53 bits of splitmix64(offset + i) are >= threshold
 * (ceil(p * 2^53): u >= p with u uniform in [0, 1)), else 0. pyautograd/backends/list2d.py
 * computes the same bits in Python. */
#include <stddef.h>
#include <stdint.h>

#include "pyautograd.h"

static uint64_t splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void pag_random_mask(size_t n, size_t threshold, double offset, double *out)
{
    uint64_t start = (uint64_t)offset;
    for (size_t i = 0; i < n; i++)
        out[i] = (splitmix64(start + i) >> 11) >= threshold ? 1.0 : 0.0;
}

void pag_random_mask_f32(size_t n, size_t threshold, double offset, float *out)
{
    uint64_t start = (uint64_t)offset;
    for (size_t i = 0; i < n; i++)
        out[i] = (splitmix64(start + i) >> 11) >= threshold ? 1.0f : 0.0f;
}

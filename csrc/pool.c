/* The buffer pool: every CArray buffer and every packing buffer of the matrix product comes from
 * here, so that a training loop reuses the same memory step after step instead of mapping fresh
 * pages (a page fault each 4 KiB) and returning them to the system at every op.
 *
 * Blocks are 64-byte aligned (a cache line, an AVX-512 vector) and carry a 64-byte header that
 * records their size class. A freed block goes onto its class's free list while the cached total
 * stays under the limit; beyond it, and for blocks larger than the limit, it goes back to the
 * system. Size classes step by a quarter of a power of two, so a block is at most 25% larger
 * than asked for. One spin lock guards the lists: the critical sections are a few pointer moves.
 *
 * Under AddressSanitizer cached blocks and the slack past each request are poisoned, so a read
 * of freed or out-of-bounds pooled memory is still reported.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "pyautograd.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 64
#define CLASSES (4 + 4 * 52) /* up to 8 * 2^51 units: more than any machine has */
#define DEFAULT_LIMIT ((size_t)256 << 20) /* bytes kept cached, unless set otherwise */

typedef struct header {
    alignas(ALIGN) struct header *next; /* on a free list: the next cached block */
    size_t size_class;
} header;

static header *free_lists[CLASSES];
static size_t cached_bytes;
static size_t cache_limit = DEFAULT_LIMIT;
static atomic_flag lock = ATOMIC_FLAG_INIT;

static void acquire(void) { while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire)) {} }
static void release(void) { atomic_flag_clear_explicit(&lock, memory_order_release); }

/* Size classes, in 64-byte units: 1, 2, 3, 4, then 5, 6, 7, 8 times 2^e for e = 0, 1, 2, ...
 * The class of a request is the smallest that holds it. */
static size_t class_of(size_t bytes)
{
    size_t units = bytes <= ALIGN ? 1 : (bytes - 1) / ALIGN + 1;
    if (units <= 4) return units - 1;
    size_t e = 0;
    while (((units - 1) >> e) >= 8) ++e; /* (units - 1) >> e now lies in 4..7 */
    return 4 + 4 * e + (((units - 1) >> e) - 4);
}

static size_t class_size(size_t c)
{
    if (c < 4) return (c + 1) * ALIGN;
    size_t e = (c - 4) / 4, q = (c - 4) % 4;
    return ((q + 5) << e) * ALIGN;
}

void *pag_alloc(size_t bytes)
{
    if (bytes > ((size_t)1 << 56)) return NULL; /* no class is that large */
    size_t c = class_of(bytes);
    size_t size = class_size(c);
    acquire();
    header *h = free_lists[c];
    if (h != NULL) {
        free_lists[c] = h->next;
        cached_bytes -= size;
    }
    release();
    if (h == NULL) {
        h = aligned_alloc(ALIGN, sizeof(header) + size);
        if (h == NULL) return NULL;
        h->size_class = c;
    } else {
        UNPOISON(h + 1, size);
    }
    POISON((char *)(h + 1) + bytes, size - bytes);
    return h + 1;
}

void pag_free(void *p)
{
    if (p == NULL) return;
    header *h = (header *)p - 1;
    size_t size = class_size(h->size_class);
    acquire();
    int keep = cached_bytes + size <= cache_limit;
    if (keep) {
        h->next = free_lists[h->size_class];
        free_lists[h->size_class] = h;
        cached_bytes += size;
    }
    release();
    if (keep) {
        POISON(h + 1, size);
    } else {
        UNPOISON(h + 1, size);
        free(h);
    }
}

/* Hand every cached block back to the system; returns how many bytes that was. */
size_t pag_pool_empty(void)
{
    header *lists[CLASSES];
    acquire();
    size_t freed = cached_bytes;
    for (size_t c = 0; c < CLASSES; ++c) {
        lists[c] = free_lists[c];
        free_lists[c] = NULL;
    }
    cached_bytes = 0;
    release();
    for (size_t c = 0; c < CLASSES; ++c) {
        for (header *h = lists[c]; h != NULL;) {
            header *next = h->next;
            UNPOISON(h + 1, class_size(c));
            free(h);
            h = next;
        }
    }
    return freed;
}

size_t pag_pool_cached(void)
{
    acquire();
    size_t n = cached_bytes;
    release();
    return n;
}

size_t pag_pool_limit(void)
{
    acquire();
    size_t n = cache_limit;
    release();
    return n;
}

size_t pag_pool_set_limit(size_t bytes)
{
    acquire();
    size_t old = cache_limit;
    cache_limit = bytes;
    release();
    if (bytes < old) pag_pool_empty(); /* simplest way to honour a lower cap at once */
    return old;
}

/* Runtime CPU dispatch for the hot kernels (internal to csrc/, not part of the kernel API).
 *
 * A portable build (the default) compiles each function marked PAG_HOT three times, for
 * x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline x86-64 (SSE2), and the loader picks one
 * per process from the CPU's features (GCC's target_clones, through a glibc ifunc). Where that is
 * not available (another compiler or architecture, musl, macOS, Windows) PAG_HOT is empty and the
 * kernels are compiled once for the target's baseline. A build with PYAUTOGRAD_NATIVE=1 defines
 * PAG_NATIVE: -march=native already chose the instructions, so nothing is cloned.
 */
#ifndef PAG_DISPATCH_H
#define PAG_DISPATCH_H

#include <stdlib.h> /* defines __GLIBC__ where the C library is glibc */

#if !defined(PAG_NATIVE) && defined(__x86_64__) && defined(__ELF__) && defined(__GLIBC__) \
    && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define PAG_DISPATCH_X86 1
#define PAG_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PAG_DISPATCH_X86 0
#define PAG_HOT
#endif

#endif

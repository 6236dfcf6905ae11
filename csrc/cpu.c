/* What the kernels were built with and which variant runs here: for ag.show_config(). */
#include "dispatch.h"
#include "pyautograd.h"

#ifndef PAG_BUILD_FLAGS
#define PAG_BUILD_FLAGS "(not recorded)"
#endif

const char *pag_cpu_variant(void)
{
#if defined(PAG_NATIVE)
    return "native (built with -march=native for the build machine; no dispatch)";
#elif PAG_DISPATCH_X86
    /* The same tests, in the same order, as the resolver GCC writes for target_clones. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (AVX-512), chosen at run time";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2+FMA), chosen at run time";
    return "x86-64 baseline (SSE2), chosen at run time";
#else
    return "baseline of the build target (no runtime dispatch with this compiler or platform)";
#endif
}

const char *pag_build_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#elif defined(_MSC_VER)
#define PAG_STR2(x) #x
#define PAG_STR(x) PAG_STR2(x)
    return "msvc " PAG_STR(_MSC_VER);
#else
    return "unknown C compiler";
#endif
}

const char *pag_build_flags(void) { return PAG_BUILD_FLAGS; }

int pag_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

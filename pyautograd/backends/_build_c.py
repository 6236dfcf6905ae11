"""cffi builder for the C kernels (out-of-line API mode), named in setup.py's cffi_modules.

Build flags (environment variables read at build time):
- default: a portable binary, -O3 for the target's baseline, with the hot kernels compiled for
  AVX-512, AVX2+FMA and baseline x86-64 and chosen at run time where the compiler supports it
  (csrc/dispatch.h); a wheel built here runs on any x86-64 machine;
- PYAUTOGRAD_NATIVE=1: -march=native, for the build machine only (a binary that may die with
  SIGILL elsewhere; no faster here than the dispatched kernels, see bench/portable.py);
- PYAUTOGRAD_SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer, with the portable
  matmul micro-kernel (for CI; load libasan first with LD_PRELOAD).
PYAUTOGRAD_PORTABLE=1, the old spelling of the default, is accepted and changes nothing.
"""
import os
import re
import sysconfig
from typing import Dict, List, Optional, Tuple

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSRC = os.path.join(ROOT, "csrc")
SOURCES = ["pool.c", "elementwise.c", "unary.c", "reduce.c", "matmul.c", "select.c", "index.c",
           "plan.c", "cpu.c", "random.c"]
MODULE = "pyautograd.backends._ckernels"


def _cdef_text() -> str:
    """The header without its preprocessor lines and comments: what cffi's cdef can parse."""
    with open(os.path.join(CSRC, "pyautograd.h")) as header:
        text = header.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def flags(env: Optional[Dict[str, str]] = None) -> Tuple[List[str], List[str]]:
    """Compile and link arguments (GCC/Clang spelling) for the build the environment asks for."""
    env = os.environ if env is None else env
    # No -ffp-contract=fast: element-wise kernels must round as the Python reference does
    # (matmul.c allows fused multiply-adds for itself, with a pragma).
    compile_args = ["-std=c11", "-O3", "-fno-math-errno", "-fopenmp"]
    link_args = ["-fopenmp"]
    if env.get("PYAUTOGRAD_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
        # the portable matmul micro-kernel too: the normal build tests the AVX2 one
        compile_args = ["-std=c11", "-O1", "-g", "-fopenmp", "-DPAG_MATMUL_PORTABLE"] + san
        link_args = ["-fopenmp"] + san
    elif env.get("PYAUTOGRAD_NATIVE") == "1":
        compile_args += ["-march=native", "-DPAG_NATIVE"]
    elif sysconfig.get_platform().startswith("linux") and sysconfig.get_platform().endswith("x86_64"):
        # Scheduling only (the instructions stay those of each clone, so the binary still runs on
        # any x86-64): GCC's generic tuning spills the AVX2 matmul micro-kernel's accumulators
        # badly, and costs it 15-20% against -march=native on Zen 3; Haswell's tuning does not.
        compile_args.append("-mtune=haswell")
    return compile_args, link_args


def record_flags(compile_args: List[str], msvc: bool = False) -> List[str]:
    """compile_args plus a PAG_BUILD_FLAGS macro naming them, for show_config(). The value is one
    argument of the compiler's command line (no shell), so the quotes stay quotes."""
    args = [a for a in compile_args if "PAG_BUILD_FLAGS" not in a]
    return args + [f'{"/D" if msvc else "-D"}PAG_BUILD_FLAGS="{" ".join(args)}"']


def adapt_flags(compiler_type: str, compile_args: List[str],
                link_args: List[str]) -> Tuple[List[str], List[str]]:
    """The same build in the spelling of another compiler family (MSVC), with the flags recorded
    in the binary for show_config()."""
    if compiler_type == "msvc":
        native = any("PAG_NATIVE" in a and "PAG_BUILD_FLAGS" not in a for a in compile_args)
        return record_flags(["/O2", "/std:c11", "/openmp"] + (["/DPAG_NATIVE"] if native else []),
                            msvc=True), []
    return record_flags(compile_args), link_args


def without_openmp(compiler_type: str, compile_args: List[str],
                   link_args: List[str]) -> Tuple[List[str], List[str]]:
    """The flags of a build without OpenMP, for a compiler that has none (Apple's clang)."""
    drop = ("-fopenmp", "/openmp")
    return (record_flags([a for a in compile_args if a not in drop and "PAG_BUILD_FLAGS" not in a],
                         msvc=compiler_type == "msvc"),
            [a for a in link_args if a not in drop])


def make_builder(module: str = MODULE, env: Optional[Dict[str, str]] = None,
                 absolute: bool = False) -> FFI:
    """An FFI that builds the kernels as `module` with the flags the environment asks for
    (bench/portable.py builds a native variant next to the portable one under another name).
    Paths are relative to the current directory, as setuptools wants, unless `absolute`
    (for FFI.compile into another directory: it changes into that directory to compile)."""
    where = os.path.abspath if absolute else os.path.relpath
    builder = FFI()
    builder.cdef(_cdef_text())
    compile_args, link_args = adapt_flags("unix", *flags(env))
    builder.set_source(
        module,
        '#include "pyautograd.h"',
        sources=[where(os.path.join(CSRC, s)) for s in SOURCES],
        include_dirs=[where(CSRC)],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        libraries=["m"],
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

"""cffi builder for the C kernels (out-of-line API mode), named in setup.py's cffi_modules.

Build flags: -O3 tuned for the build machine by default; PYAUTOGRAD_PORTABLE=1 drops
-march=native for a binary that runs on any x86-64; PYAUTOGRAD_SANITIZE=1 builds with
AddressSanitizer and UndefinedBehaviorSanitizer (for CI; load libasan first with LD_PRELOAD).
"""
import os
import re

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSRC = os.path.join(ROOT, "csrc")
SOURCES = ["pool.c", "elementwise.c", "unary.c", "reduce.c", "matmul.c", "select.c", "index.c",
           "plan.c"]


def _cdef_text() -> str:
    """The header without its preprocessor lines and comments: what cffi's cdef can parse."""
    with open(os.path.join(CSRC, "pyautograd.h")) as header:
        text = header.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _flags():
    # No -ffp-contract=fast: element-wise kernels must round as the Python reference does
    # (matmul.c allows fused multiply-adds for itself, with a pragma).
    compile_args = ["-std=c11", "-O3", "-fno-math-errno", "-fopenmp"]
    link_args = ["-fopenmp"]
    if os.environ.get("PYAUTOGRAD_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
        compile_args = ["-std=c11", "-O1", "-g", "-fopenmp"] + san
        link_args = ["-fopenmp"] + san
    elif os.environ.get("PYAUTOGRAD_PORTABLE") != "1":
        compile_args.append("-march=native")
    return compile_args, link_args


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
_compile_args, _link_args = _flags()
ffibuilder.set_source(
    "pyautograd.backends._ckernels",
    '#include "pyautograd.h"',
    sources=[os.path.relpath(os.path.join(CSRC, s)) for s in SOURCES],
    include_dirs=[os.path.relpath(CSRC)],
    extra_compile_args=_compile_args,
    extra_link_args=_link_args,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

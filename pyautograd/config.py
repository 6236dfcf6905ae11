"""show_config(): how this copy of pyautograd was built and what it runs on, for bug reports."""
from __future__ import annotations

import platform
import sys
from typing import Dict, Optional, TextIO

from . import backends

VERSION = "0.1.0"  # the package's version (pyautograd.__version__), as pyproject.toml says


def build_config() -> Dict[str, str]:
    """The build and runtime facts that show_config() prints, as a dict of strings."""
    info = {"pyautograd": _version(), "python": sys.version.split()[0],
            "platform": f"{platform.system()} {platform.machine()}",
            "default backend": backends.get_backend()}
    if not backends.c_available():
        info["C extension"] = f"not available ({backends.c_error()})"
        return info
    from .backends._ckernels import ffi, lib
    omp = lib.pag_openmp_version()
    info.update({
        "C extension": "built",
        "compiler": ffi.string(lib.pag_build_compiler()).decode(),
        "flags": ffi.string(lib.pag_build_flags()).decode(),
        "kernel variant": ffi.string(lib.pag_cpu_variant()).decode(),
        "matmul kernel": ffi.string(lib.pag_matmul_kernel()).decode(),
        "OpenMP": f"yes ({omp // 100}-{omp % 100:02d})" if omp else "no (matmul runs on one thread)",
        "threads": str(backends.get_num_threads()),
    })
    return info


def show_config(file: Optional[TextIO] = None) -> None:
    """Print the build: compiler, flags, the kernel variant chosen at run time, OpenMP, threads."""
    out = sys.stdout if file is None else file
    info = build_config()
    width = max(map(len, info))
    for key, value in info.items():
        out.write(f"{key + ':':<{width + 1}} {value}\n")


def _version() -> str:
    return VERSION

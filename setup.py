"""Build script: setuptools compiles the C kernels through cffi (see pyautograd/backends/_build_c.py).

The C extension is optional. When it cannot be built (no compiler, a compiler that rejects the
flags), the install still succeeds with the pure-Python backend, says so in one line, and the
package warns once at import. A compiler without OpenMP gets a second try without it.
"""
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, "pyautograd/backends")
from _build_c import adapt_flags, without_openmp  # noqa: E402  (the in-place build's flag rules)


def _say(message: str) -> None:
    sys.stderr.write(f"pyautograd: {message}\n")
    sys.stderr.flush()


class OptionalBuildExt(build_ext):
    """build_ext that turns a failed C build into a working pure-Python install."""

    gave_up = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a broken setup before any extension, or the in-place copy
            if not self.gave_up:  # of the extension that failed (already reported)
                self._give_up(exc)

    def build_extension(self, ext) -> None:
        ext.extra_compile_args, ext.extra_link_args = adapt_flags(
            self.compiler.compiler_type, ext.extra_compile_args, ext.extra_link_args)
        if self.compiler.compiler_type == "msvc":
            ext.libraries = [lib for lib in ext.libraries if lib != "m"]  # libm is in the CRT
        try:
            super().build_extension(ext)
            return
        except Exception as exc:
            first = exc
        if any(flag in ("-fopenmp", "/openmp") for flag in ext.extra_compile_args):
            ext.extra_compile_args, ext.extra_link_args = without_openmp(
                self.compiler.compiler_type, ext.extra_compile_args, ext.extra_link_args)
            try:
                super().build_extension(ext)
                _say(f"built the C kernels without OpenMP (the compiler refused it: {_why(first)}); "
                     "matmul runs on one thread")
                return
            except Exception:
                pass
        self._give_up(first)

    def _give_up(self, exc: BaseException) -> None:
        self.gave_up = True
        _say(f"the C extension could not be built ({_why(exc)}); installing without it, so the "
             "pure-Python backend will be used (slow but complete)")


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


setup(cffi_modules=["pyautograd/backends/_build_c.py:ffibuilder"],
      cmdclass={"build_ext": OptionalBuildExt},
      # cffi compiles the kernels against the stable ABI (it defines Py_LIMITED_API, see its
      # _cffi_include.h) and names the module _ckernels.abi3.so: one wheel serves CPython 3.9
      # and every later 3.x, and its tag says so (cp39-abi3-<platform>).
      options={"bdist_wheel": {"py_limited_api": "cp39"}})

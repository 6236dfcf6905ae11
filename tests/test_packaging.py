"""Packaging: the metadata the ecosystem expects, a complete sdist, an optional C build with a
real fallback, portable build flags, and show_config()."""
import io
import os
import platform
import shutil
import subprocess
import sys
import sysconfig

import pytest

import pyautograd as ag
from pyautograd import backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "pyautograd", "backends"))
import _build_c  # noqa: E402

sys.path.pop(0)

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_metadata_has_an_spdx_license_with_its_file_and_only_numpy_and_cffi_at_run_time():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    meta = project["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert sorted(d.split(">")[0] for d in meta["dependencies"]) == ["cffi", "numpy"]
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["pyautograd"]
    assert project["tool"]["cibuildwheel"]["build"] == "cp39-*"  # one stable-ABI wheel per platform
    with open(os.path.join(ROOT, "LICENSE")) as f:
        assert f.readline().strip() == "MIT License"


def test_every_subpackage_is_listed_for_installation():
    """A non-editable install copies only the packages pyproject.toml names: one left out
    imports in the tree and fails after `pip install .`."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {os.path.relpath(d, ROOT).replace(os.sep, ".")
             for d, _, files in os.walk(os.path.join(ROOT, "pyautograd")) if "__init__.py" in files}
    assert listed == found


def test_the_package_is_typed():
    assert os.path.isfile(os.path.join(os.path.dirname(ag.__file__), "py.typed"))


def test_the_sdist_manifest_carries_tests_examples_docs_bench_and_csrc():
    with open(os.path.join(ROOT, "MANIFEST.in")) as f:
        grafted = {line.split()[1] for line in f if line.startswith("graft ")}
    assert {"tests", "examples", "docs", "bench", "csrc"} <= grafted
    for needed in ("tests/conftest.py", "tests/op_table.py", "csrc/dispatch.h", "LICENSE"):
        assert os.path.isfile(os.path.join(ROOT, needed)), needed


def test_default_flags_are_portable_and_native_is_opt_in():
    default, _ = _build_c.flags({})
    assert not any(flag.startswith("-march") for flag in default)
    assert _build_c.flags({"PYAUTOGRAD_PORTABLE": "1"}) == _build_c.flags({})
    native, _ = _build_c.flags({"PYAUTOGRAD_NATIVE": "1"})
    assert "-march=native" in native and "-DPAG_NATIVE" in native
    sanitize, link = _build_c.flags({"PYAUTOGRAD_SANITIZE": "1"})
    assert "-fsanitize=address,undefined" in sanitize and "-fsanitize=address,undefined" in link
    msvc, _ = _build_c.adapt_flags("msvc", default, [])
    assert msvc[:3] == ["/O2", "/std:c11", "/openmp"] and msvc[-1].startswith("/DPAG_BUILD_FLAGS=")


def _setuptools_version() -> tuple:
    try:
        import setuptools
    except ImportError:
        return (0,)
    return tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit())


@pytest.mark.skipif(_setuptools_version() < (77,), reason="setup.py needs setuptools 77+ "
                    "(pip install 'setuptools>=77'); pip's isolated builds fetch it themselves")
def test_a_build_without_a_compiler_succeeds_and_says_the_python_backend_will_be_used(tmp_path):
    tree = tmp_path / "src"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.so", "*.o", "_ckernels.c", "__pycache__", "*.egg-info"))
    env = {**os.environ, "CC": "/nonexistent"}
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("pyautograd:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "the C extension could not be built" in lines[0] and "/nonexistent" in lines[0]
    assert "the pure-Python backend will be used" in lines[0]
    assert not list((tree / "pyautograd" / "backends").glob("_ckernels*.so"))
    probe = subprocess.run([sys.executable, "-W", "always", "-c",
                            "import pyautograd, pyautograd.backends as b; print(b.get_backend())"],
                           cwd=tree, capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if k != "PYAUTOGRAD_BACKEND"})
    assert probe.stdout.strip() == "python", probe.stderr
    assert probe.stderr.count("the C extension is not built") == 1  # warned once


@pytest.mark.skipif(_setuptools_version() < (77,) or shutil.which("gcc") is None
                    or sys.platform != "linux", reason="needs setuptools 77+ and gcc on Linux")
def test_a_compiler_without_openmp_builds_single_threaded_kernels(tmp_path):
    tree = tmp_path / "src"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.so", "*.o", "_ckernels.c", "__pycache__", "*.egg-info"))
    cc = tmp_path / "cc-without-openmp"
    cc.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && '
                  '{ echo "cc: unsupported option -fopenmp" >&2; exit 1; }; done\nexec gcc "$@"\n')
    cc.chmod(0o755)
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                            env={**os.environ, "CC": str(cc)}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("pyautograd:")]
    assert len(lines) == 1 and "without OpenMP" in lines[0], result.stderr[-2000:]
    probe = subprocess.run([sys.executable, "-c", "import pyautograd as ag; c = ag.config.build_config(); "
                            "print(c['OpenMP']); print(c['flags'])"], cwd=tree, capture_output=True,
                           text=True, timeout=60)
    openmp, flags = probe.stdout.splitlines()
    assert openmp.startswith("no") and "-fopenmp" not in flags and "-O3" in flags, probe.stderr


def test_show_config_names_compiler_flags_variant_openmp_and_threads():
    out = io.StringIO()
    ag.show_config(out)
    text = out.getvalue()
    info = ag.config.build_config()
    assert all(f"{key}:" in text for key in info)
    if not backends.c_available():
        assert "not available" in info["C extension"]
        return
    for key in ("compiler", "flags", "kernel variant", "OpenMP", "threads"):
        assert info[key], key
    assert info["threads"] == str(ag.get_num_threads())
    if "-DPAG_NATIVE" in info["flags"] or "-march=native" in info["flags"]:
        assert info["kernel variant"].startswith("native")
    elif (info["compiler"].startswith("gcc") and int(info["compiler"].split()[1].split(".")[0]) >= 12
          and platform.machine() == "x86_64" and sysconfig.get_platform().startswith("linux")):
        assert info["kernel variant"].endswith("chosen at run time")
        assert info["kernel variant"].split()[0] in ("x86-64-v4", "x86-64-v3", "x86-64")

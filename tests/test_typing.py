"""Type checkers see the installed package (issue 22): mypy finds pyautograd from outside the
source tree after `pip install -e .` (the editable install writes a plain path, see
pyproject.toml), and the typed example script checks clean, with `.grad` a Storage and
`max(dim)` PyTorch's (values, indices) pair."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "typed_port.py"


def _mypy(tmp_path, *args):
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir",
                          str(tmp_path / "cache"), *args], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    return run.returncode, run.stdout + run.stderr


def test_mypy_finds_the_package_and_its_types_from_outside_the_tree(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text("import pyautograd as ag\n"
                      "m = ag.mat([[1.0, 2.0]])\n"
                      "reveal_type(m.grad)\n"
                      "reveal_type(m.max(1))\n"
                      "reveal_type(m.max())\n"
                      "reveal_type(m.sin())\n")
    code, out = _mypy(tmp_path, str(script))
    assert "Cannot find implementation or library stub" not in out, out
    assert code == 0, out
    assert 'Revealed type is "pyautograd.backends.base.Storage"' in out, out
    assert 'Revealed type is "pyautograd.matrix.ValuesIndices"' in out, out
    assert out.count('Revealed type is "pyautograd.matrix.Matrix"') == 2, out


def test_the_typed_example_checks_clean_and_runs(tmp_path):
    code, out = _mypy(tmp_path, str(EXAMPLE))
    assert code == 0, out
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("accuracy"), run.stdout + run.stderr

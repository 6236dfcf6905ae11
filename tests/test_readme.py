"""The README's indexing, training and "Coming from PyTorch" snippets run as written and print what their
comments say. (Other sections hold fragments that are not meant to run alone.)"""
import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS = ["Indexing, shapes and in-place changes", "Training in the PyTorch idiom",
            "Coming from PyTorch"]


def _blocks(section):
    text = README.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


@pytest.mark.parametrize("section", SECTIONS)
def test_readme_snippets_run_and_print_what_they_say(section, tmp_path, monkeypatch):
    blocks = _blocks(section)
    assert blocks, f"no python snippet under '## {section}'"
    monkeypatch.chdir(tmp_path)  # files the snippets write land here
    namespace = {}
    for code in blocks:
        if "to_torch" in code:
            pytest.importorskip("torch")
        prints = [line for line in code.splitlines() if line.lstrip().startswith("print(")]
        expected = [line.split("  # ", 1)[1].strip() for line in prints if "  # " in line]
        assert len(expected) == len(prints), "every print in the README says what it prints"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md ({section})", "exec"), namespace)
        assert out.getvalue().splitlines() == expected

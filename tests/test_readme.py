"""Every Python snippet of the README runs as written (a section's snippets in order) and prints
what its comments say; the explain() excerpt is what explain() prints for the snippet above it."""
import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _sections():
    """(title, body) of every '## ' section that holds a Python snippet."""
    parts = re.split(r"^## (.+)$", README.read_text(), flags=re.M)[1:]
    return [(t, b) for t, b in zip(parts[::2], parts[1::2]) if "```python" in b]


def _run(title, code, namespace):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md ({title})", "exec"), namespace)
    return out.getvalue()


@pytest.mark.parametrize("title,body", _sections(), ids=[t for t, _ in _sections()])
def test_readme_snippets_run_and_print_what_they_say(title, body, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the snippets write land here
    namespace = {}  # the snippets of one section run in order, like a user's session
    for code in re.findall(r"```python\n(.*?)```", body, re.S):
        if "to_torch" in code:
            pytest.importorskip("torch")
        prints = [line for line in code.splitlines() if line.lstrip().startswith("print(")]
        expected = [line.split("  # ", 1)[1].strip() for line in prints if "  # " in line]
        assert len(expected) == len(prints), "every print in the README says what it prints"
        printed = _run(title, code, namespace)
        if "ag.explain(" not in code:  # explain's narration: the excerpt test below
            assert printed.splitlines() == expected


def test_the_explain_excerpt_is_what_explain_prints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = dict(_sections())["Seeing the gradients"]
    printed = _run("Seeing the gradients", re.findall(r"```python\n(.*?)```", body, re.S)[0], {})
    excerpt = re.findall(r"```\n(\[.*?|\.\.\.\n.*?)```", body, re.S)[0]
    shown = [line for line in excerpt.splitlines() if line.strip() != "..."]
    assert shown and "\n".join(shown) in printed

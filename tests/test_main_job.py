"""The main job, `python -m pyautograd`: it trains, reports, compares backends, plots."""
import io
import subprocess
import sys

import pytest

from pyautograd import backends
from pyautograd.__main__ import main, parse_args
from pyautograd.demo import Config, run, train


def test_default_training_reaches_95_percent_on_both_backends_with_equal_losses():
    fast = train(Config(backend="c" if backends.c_available() else "python"))
    assert fast.test_accuracy >= 0.95
    assert fast.losses[-1] < 0.1 * fast.losses[0]
    slow = train(Config(backend="python"), epochs=2)
    assert slow.losses == pytest.approx(fast.losses[:2], rel=1e-12)


def test_the_report_names_accuracy_time_and_speed_up():
    out = io.StringIO()
    run(Config(epochs=3, n=200, backend="c" if backends.c_available() else "python"), out,
        compare_epochs=2)
    text = out.getvalue()
    assert "epoch 3/3 [" in text and "loss" in text
    assert "test accuracy:" in text and "ms" in text
    if backends.c_available():
        assert "the same first 2 epochs on 'python'" in text and "x faster" in text


def test_command_line_flags_and_help():
    args = parse_args(["--backend", "python", "--dataset", "xor", "--hidden", "8", "--epochs", "2",
                       "--lr", "0.1", "--batch-size", "16", "--seed", "3", "--optimizer", "sgd"])
    assert (args.backend, args.dataset, args.hidden, args.epochs, args.lr, args.batch_size,
            args.seed, args.optimizer) == ("python", "xor", 8, 2, 0.1, 16, 3, "sgd")
    result = subprocess.run([sys.executable, "-m", "pyautograd", "--help"], capture_output=True,
                            text=True, timeout=60)
    for flag in ("--backend", "--dataset", "--hidden", "--epochs", "--lr", "--batch-size",
                 "--seed", "--optimizer", "--plot"):
        assert flag in result.stdout
    with pytest.raises(SystemExit):
        parse_args(["--epochs", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "mnist"])


def test_main_runs_end_to_end(capsys):
    assert main(["--backend", "python", "--epochs", "2", "--hidden", "4"]) == 0
    assert "test accuracy:" in capsys.readouterr().out


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "run.png"
    out = io.StringIO()
    run(Config(epochs=2, n=100, backend="python"), out, plot_path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {path}" in out.getvalue()


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    out = io.StringIO()
    run(Config(epochs=1, n=100, backend="python"), out, plot_path=str(tmp_path / "x.png"))
    assert "--plot needs matplotlib: pip install matplotlib" in out.getvalue()
    assert not (tmp_path / "x.png").exists()

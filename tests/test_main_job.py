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


def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "pyautograd", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("args,message", [
    (["--lr", "inf"], "--lr must be a positive finite number, got inf"),
    (["--lr", "nan"], "--lr must be a positive finite number, got nan"),
    (["--seed", "-1"], "--seed must be from 0 to 4294967295, got -1"),
    (["--hidden", str(10 ** 12)], "--hidden 1000000000000 is too large: at most 10,000"),
    (["--hidden", "10**12"], "argument --hidden: invalid int value: '10**12'"),
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--plot", "/nonexistent/x.png"], "--plot /nonexistent/x.png: the directory /nonexistent does not exist"),
])
def test_bad_flags_end_with_one_line_and_a_non_zero_exit_before_training(args, message):
    result = _cli("--backend", "python", "--epochs", "2", *args)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing trained
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert result.stderr.startswith("python -m pyautograd: error: ")


def test_plot_into_a_directory_is_refused_before_training(tmp_path):
    result = _cli("--backend", "python", "--plot", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr and result.stdout == ""


def test_ctrl_c_ends_the_run_with_one_line_and_status_130():
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "pyautograd", "--backend", "python",
                             "--epochs", "100000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # the header: training has started
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip() == "python -m pyautograd: interrupted", err
    assert "Traceback" not in err


def test_running_out_of_memory_is_one_line(monkeypatch, capsys):
    import pyautograd.__main__ as cli

    def no_memory(*args, **kwargs):
        raise MemoryError("matmul: a (10, 10) product needs more memory than there is")
    monkeypatch.setattr(cli, "run", no_memory)
    assert cli.main(["--backend", "python"]) == 1
    err = capsys.readouterr().err
    assert err == ("python -m pyautograd: out of memory: matmul: a (10, 10) product needs more "
                   "memory than there is\n")


def test_plot_with_an_unknown_image_format_is_refused_before_training(tmp_path):
    pytest.importorskip("matplotlib")
    result = _cli("--backend", "python", "--plot", str(tmp_path / "x.xyz"))
    assert result.returncode == 2 and "unknown image format 'xyz'" in result.stderr
    assert result.stdout == ""

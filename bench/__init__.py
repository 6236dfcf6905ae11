"""Benchmarks: pyautograd's C and Python backends against hand-written NumPy and PyTorch.
Run `python -m bench` from the repository root (`--help` for options)."""

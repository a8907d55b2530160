"""Speed and memory of the engine against hand-written numpy (and PyTorch when installed).
Run `python benchmarks/run.py` (or `make bench`); `--quick` for a fast smoke run."""

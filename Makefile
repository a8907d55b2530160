# The two commands a new user runs: `make book` and `make test`.
# Each creates .venv (from python3) and installs what it needs, pinned in pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book test bench bench-grading bench-scaling clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[book,test,grade]'
	touch $(STAMP)

# ---- the book: Jupyter Book 1.x, warnings are errors, execution cached in _build/ -------
# BOOK is the book's folder (the tests build temporary copies with `make book BOOK=...`).
BOOK ?= .
JB := $(VENV)/bin/jupyter-book
JB_FLAGS := --warningiserror --keep-going
MATHJAX := node_modules/mathjax/es5/tex-chtml.js

# MathJax 3 from the npm registry, pinned in package-lock.json; the book's local extension
# (book/_ext/offline_book.py) copies it into the built HTML so math renders offline.
$(MATHJAX): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make book needs npm (Debian: apt-get install npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# One BLAS thread per process for the build and the tests: they run beside other processes
# (pytest -n 2, a kernel per chapter), and there OpenBLAS's threads fight for the cores
# (measured: a 256x64 @ 64x64 matmul 26x slower with 2 threads than 1 on a loaded 2-core box).
ONE_BLAS_THREAD := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

book: $(STAMP) $(MATHJAX)
	$(ONE_BLAS_THREAD) $(JB) build $(JB_FLAGS) $(BOOK)
	@echo "The book is at $(abspath $(BOOK))/_build/html/index.html"

test: $(STAMP)
	$(ONE_BLAS_THREAD) $(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) benchmarks/run.py

# plain `nbgrader autograde` vs `autograder grade --jobs 2` on the same submissions
bench-grading: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) benchmarks/grading.py

# notebooks/s with 1 and 2 local workers and on a Dask cluster started on loopback
bench-scaling: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) benchmarks/grading_scaling.py

clean:
	rm -rf _build

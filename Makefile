# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/orthomtl
STAMP := $(VENV)/.installed
DEMO_RUNS := runs/demo

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# The CPU build of torch first: a looser request would pull several GB of CUDA wheels.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev,nash-mtl]"
	touch $(STAMP)

# Rotated digits: the equal-weighting HPS baseline, then the UPGrad aggregator, then both side by side,
# and their diagnostics report.
demo: $(STAMP)
	rm -rf $(DEMO_RUNS)
	$(CLI) run configs/demo.yaml runs_dir=$(DEMO_RUNS)
	$(CLI) run configs/demo.yaml runs_dir=$(DEMO_RUNS) method.aggregator=upgrad
	@echo
	$(CLI) compare $(DEMO_RUNS)/*
	$(CLI) report $(DEMO_RUNS)/* -o $(DEMO_RUNS)-report

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs

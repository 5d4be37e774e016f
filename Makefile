# Kiln's two commands: `make demo` (the main job) and `make test` (everything CI runs).
# Both set up the virtual environment first, so they work on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CI fails when fewer ONNX node conformance cases pass than this (README: the measured figure)
CONFORMANCE_MIN_PASS ?= 1350

.PHONY: setup demo test lint filecheck unit conformance-ci conformance bench coverage clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/run-tool examples/models/cnn.onnx --check
	$(BIN)/run-tool examples/models/mlp.onnx --dim batch=64 --check
	$(BIN)/run-tool examples/models/resnet18.onnx --dim batch=2 --check

lint: setup
	$(BIN)/ruff check .

filecheck: setup
	$(BIN)/lit -sv test/filecheck

unit: setup
	$(BIN)/pytest -q test

# the whole ONNX node suite (1,884 cases) with a floor on the number that pass
conformance-ci: setup
	$(BIN)/conformance-tool --jobs 2 --min-pass $(CONFORMANCE_MIN_PASS)

test: lint filecheck unit conformance-ci

# long suites, one command each
conformance: setup
	$(BIN)/conformance-tool --jobs 2 --json .cache/conformance.json

bench: setup
	$(BIN)/bench-tool --dim batch=1 --markdown
	$(BIN)/bench-tool --gemm 512,512,512 --gemm 1024,1024,1024

coverage: conformance
	$(BIN)/coverage-tool --conformance .cache/conformance.json --write README.md

clean:
	rm -rf $(VENV) build *.egg-info test/filecheck/**/Output

# Kiln's two commands: `make demo` (the main job) and `make test` (everything CI runs).
# Both set up the virtual environment first, so they work on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint filecheck unit clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/run-tool examples/models/cnn.onnx --check
	$(BIN)/run-tool examples/models/mlp.onnx --dim batch=64 --check

lint: setup
	$(BIN)/ruff check .

filecheck: setup
	$(BIN)/lit -sv test/filecheck

unit: setup
	$(BIN)/pytest -q test

test: lint filecheck unit

clean:
	rm -rf $(VENV) build *.egg-info test/filecheck/**/Output

# Kiln's two commands: `make demo` (the main job) and `make test` (everything CI runs).
# Both set up the virtual environment first, so they work on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CI fails when fewer ONNX node conformance cases pass than this (README: the measured figure)
CONFORMANCE_MIN_PASS ?= 1600

# the real-model models that `make test` runs (all of them: `make library-models`)
LIBRARY_CI ?= (bert and not distilbert) or gpt2 or llama or t5_encoder or vit

.PHONY: setup library-setup demo test lint filecheck unit library-ci fuzz-ci conformance-ci \
	torch-ci conformance bench bench-realistic coverage library-models fuzz durations clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# torch (CPU build, pinned) and transformers from the library-models extra; torchvision's
# wheel on the index is a CUDA build, so it goes in without dependencies (its model
# definitions only: examples/make_library_models.py defines the op schemas it registers)
$(VENV)/.library-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev,library-models]'
	$(BIN)/pip install -q --no-deps 'torchvision==0.28.0'
	touch $@

library-setup: $(VENV)/.library-installed

demo: setup
	$(BIN)/run-tool examples/models/cnn.onnx --check
	$(BIN)/run-tool examples/models/mlp.onnx --dim batch=64 --check
	$(BIN)/run-tool examples/models/resnet18.onnx --dim batch=2 --check

lint: setup
	$(BIN)/ruff check .

filecheck: setup
	$(BIN)/lit -sv test/filecheck

# the unit tests in UNIT_SHARDS processes side by side (whole test files each, balanced by
# test/durations.json: `make durations` refreshes it); a failing shard's log is shown whole
UNIT_SHARDS ?= 2
unit: setup
	@mkdir -p .cache; pids=""; \
	for k in $$(seq 1 $(UNIT_SHARDS)); do \
		$(BIN)/pytest -q test -m 'not library' -p no:cacheprovider \
			--basetemp=.cache/pytest-shard-$$k --shard $$k/$(UNIT_SHARDS) \
			> .cache/unit-shard-$$k.log 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; k=0; for p in $$pids; do \
		k=$$((k + 1)); \
		if wait $$p; then echo "unit shard $$k/$(UNIT_SHARDS): $$(tail -n 1 .cache/unit-shard-$$k.log)"; \
		else status=1; echo "unit shard $$k/$(UNIT_SHARDS) FAILED:"; cat .cache/unit-shard-$$k.log; fi; \
	done; exit $$status

# per-file seconds of the unit tests, for the shards' balance (commit the result)
durations: setup
	$(BIN)/pytest -q test -m 'not library' -p no:cacheprovider --junitxml=.cache/unit.xml
	$(BIN)/python -m tools.test_durations .cache/unit.xml test/durations.json

# transformers/torchvision models vs onnxruntime (exported once into .cache/library_models)
library-ci: library-setup
	$(BIN)/pytest -q test/models/test_library_models.py -k '$(LIBRARY_CI)'

# the PyTorch frontend (torch.export and torch.compile(backend="kiln")) vs torch eager;
# needs torch, so not in `unit` (marked `torch` and `library`); two processes side by side
# (about equal halves; a failing half's log is shown whole)
TORCH_CI_HALVES = "test_torch_dynamo.py test_torch_ops.py" "test_torch_models.py test_torch_import.py"
torch-ci: library-setup
	@mkdir -p .cache; pids=""; k=0; for half in $(TORCH_CI_HALVES); do \
		k=$$((k + 1)); files=""; for f in $$half; do files="$$files test/torch_frontend/$$f"; done; \
		$(BIN)/pytest -q $$files -m torch -p no:cacheprovider --basetemp=.cache/pytest-torch-$$k \
			> .cache/torch-ci-$$k.log 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; k=0; for p in $$pids; do \
		k=$$((k + 1)); \
		if wait $$p; then echo "torch-ci half $$k/2: $$(tail -n 1 .cache/torch-ci-$$k.log)"; \
		else status=1; echo "torch-ci half $$k/2 FAILED:"; cat .cache/torch-ci-$$k.log; fi; \
	done; exit $$status

# the whole ONNX node suite (1,884 cases) with a floor on the number that pass
conformance-ci: setup
	$(BIN)/conformance-tool --jobs 2 --min-pass $(CONFORMANCE_MIN_PASS)

# ONNX and .mlir mutants, each in a worker process with a timeout, against onnxruntime
fuzz-ci: setup
	$(BIN)/fuzz-tool --onnx 300 --mlir 100 --jobs 2 --seed 0

test: lint filecheck unit library-ci torch-ci fuzz-ci conformance-ci

# long suites, one command each
conformance: setup
	$(BIN)/conformance-tool --jobs 2 --json .cache/conformance.json

bench: setup
	$(BIN)/bench-tool --dim batch=1 --markdown
	$(BIN)/bench-tool --gemm 512,512,512 --gemm 1024,1024,1024

# ResNet-18, MobileNetV2, LSTM, BERT-tiny, GPT-2-tiny and an MLP at real sizes, 1 and 2
# threads (built into examples/bench_models/ by examples/make_bench_models.py when missing)
bench-realistic: library-setup
	$(BIN)/bench-tool --suite realistic --markdown --json .cache/bench.json

fuzz: setup
	$(BIN)/fuzz-tool --onnx 2000 --mlir 1000 --jobs 2 --examples all --keep .cache/fuzz \
		--json .cache/fuzz/report.json

library-models: library-setup
	$(BIN)/pytest -q test/models/test_library_models.py

coverage: conformance
	$(BIN)/coverage-tool --conformance .cache/conformance.json --write README.md

clean:
	rm -rf $(VENV) build *.egg-info test/filecheck/**/Output

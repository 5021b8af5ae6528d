# padim-edge: `make demo` runs fit -> eval -> export -> predict offline; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/elpv-mono

.PHONY: install demo test bench bench-cpu bench-serving choices select-eval lint

$(BIN)/padim-edge: pyproject.toml requirements/ci.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/ci.txt
	$(BIN)/pip install -q -e '.[cpu,fit,dev,tensorrt,serve,line,openvino]'
	touch $@

install: $(BIN)/padim-edge

# The embedded default: ELPV mono solar cells (elpv-dataset package) and packaged Lite0 ImageNet weights.
demo: install
	$(BIN)/padim-edge fit --dataset elpv --category mono --out $(RUN)
	$(BIN)/padim-edge eval $(RUN)
	$(BIN)/padim-edge export $(RUN)
	$(BIN)/padim-edge verify $(RUN) --images 16
	$(BIN)/padim-edge predict --model $(RUN)/model.onnx --overlay-dir $(RUN)/overlays \
		$$($(BIN)/python -c "from padim_edge.data import load_dataset as d; print(*[s.path for s in d('elpv', None, 'mono').test[:: 60]])")

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks

# Both CPU runtimes against anomalib's exports, per CPU class, with the roofline (README, "CPU runtimes").
bench-cpu: install
	$(BIN)/python -m benchmarks.cpu_runtimes --write-doc

# Triton serving alone: 1/4/8 clients against `padim-edge serve` and in-process, kill -9 + restart, soak.
bench-serving: install
	$(BIN)/python -m benchmarks.bench_serving

# The accuracy table behind the defaults (docs/choices.md): every candidate on every dataset, 3 seeds.
choices: install
	$(BIN)/python -m benchmarks.choices

# What `fit --select` chooses on every dataset, against every candidate's real-defect AUROC (docs/choices.md).
select-eval: install
	$(BIN)/python -m benchmarks.select_eval --write-doc

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# formset: `make demo` runs the pipeline on the bundled synthetic sample, `make test` runs the tests.
# Both bootstrap .venv on first use from requirements.lock (the verified stack, installed with
# --no-deps: see README "Installing").
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
DEMO_SET := data/sets/synthetic-demo
REAL_SET := data/sets/real-squat

.PHONY: venv demo test test-fast mutation bench bench-incremental bench-add-set bench-analyze bench-scale bench-openpose cluster-demo serve-prefect rep-eval model-eval clean-outputs

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=/path/to/python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade "pip>=24"
	$(BIN)/python -m pip install -qq --no-deps -r requirements.lock
	$(BIN)/python -m pip install -qq --no-deps --no-build-isolation -e .
	@touch $@

demo: venv
	@test -d $(DEMO_SET) || $(BIN)/formset sample $(DEMO_SET)
	@test -d $(REAL_SET) || cp -r samples/real-squat $(REAL_SET)
	$(BIN)/formset run
	$(BIN)/dvc push --quiet
	$(BIN)/dvc status

# Tests run in TEST_WORKERS processes (pytest-xdist), a module's tests in one of them (they
# share its fixtures); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: venv
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: venv
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

# Mutation testing of the stage and core modules against their own fast tests (README "Testing"):
# a seeded sample per module (tests/mutation/targets.toml); MUTATION_ARGS="--sample 0" mutates all.
mutation: venv
	$(BIN)/python tools/mutation.py $(MUTATION_ARGS)

bench: venv
	$(BIN)/python bench/pose_throughput.py

bench-incremental: venv
	$(BIN)/python bench/incremental.py --sets 4 --subjects 2

bench-add-set: venv
	$(BIN)/python bench/add_set.py

# Scale (README "Running at scale"): a local Dask cluster running `formset run`, a Prefect server
# serving the nightly deployment, and the scale benchmarks (SCALE_ARGS="--sizes 1000,5000,20000").
cluster-demo: venv
	$(BIN)/python tools/cluster_demo.py

serve-prefect: venv
	$(BIN)/formset server

bench-scale: venv
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

bench-openpose: venv
	$(BIN)/python bench/openpose_read.py $(OPENPOSE_ARGS)

# formset analyze / serve: analyze / pose alone, 4 concurrent API analyses, memory after 20 vs 2.
bench-analyze: venv
	$(BIN)/python bench/analyze.py $(BENCH_ARGS)

rep-eval: venv
	$(BIN)/python bench/rep_count_eval.py --subjects 16

model-eval: venv
	$(BIN)/python bench/model_eval.py --per-movement --tasks classifier,exercise,faults --models minirocket,kinematic --person none,rank --fusions average,fused

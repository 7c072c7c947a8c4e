# The two commands for a fresh machine: `make train serve` and `make test`.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Training data: $SENTIMENT_DATA, else the shared CSV beside the repository, else the IMDB download.
SHARED_DATA    := ../shared/data/imdb/train.csv
SENTIMENT_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),imdb)

.PHONY: venv lint test train serve bench-smoke lock clean

venv: $(VENV)/.installed

# Installed once, and again whenever a lock file changes: every package at the version and with
# the SHA-256 that requirements.lock pins (pip refuses anything else), then this package itself,
# without resolving anything more. `make lock` regenerates the lock files from pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	$(BIN)/python .ci/check_lock.py
	touch $@

# requirements.lock: runtime + dev + build backend (the venv); requirements-runtime.lock: runtime
# + build backend, at the same versions (the container image); requirements-server.lock: the
# PostgreSQL driver of the image's mlflow-server target. Pins are kept unless they must move.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml requirements-build.in --universal \
	--python-version 3.11 --generate-hashes --custom-compile-command "make lock" -q
lock: venv
	$(UV_COMPILE) --extra dev -o requirements.lock
	$(UV_COMPILE) -c requirements.lock -o requirements-runtime.lock
	$(BIN)/uv pip compile requirements-server.in --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" -q -c requirements.lock \
		-o requirements-server.lock

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv
	$(BIN)/pytest --cov --cov-report=term -q

train: venv
	$(BIN)/python -m sentiment.entrypoints.train --data '$(SENTIMENT_DATA)'

# One worker process per core (SENTIMENT_WORKERS to change it); see README, "Inference API".
serve: venv
	$(BIN)/python -m sentiment.entrypoints.serve --host $(HOST) --port $(PORT)

# Short runs of the benchmarks: serving (this API next to `mlflow models serve`; needs wrk), cold
# start and memory per registry reader, in-process prediction speed, model quality (every model
# type on a 1,000-review sample), the cost of masking names (1,000 reviews), training time and
# peak memory (500 reviews), the soak test (errors under steady load; needs wrk), and the class-LM
# stacker experiment (1,000 reviews).
bench-smoke: venv
	$(BIN)/python benchmarks/serve.py --smoke
	$(BIN)/python benchmarks/cold_start.py --smoke
	$(BIN)/python benchmarks/lean_predict.py --smoke
	$(BIN)/python benchmarks/model_quality.py --smoke
	$(BIN)/python benchmarks/name_masking.py --smoke
	$(BIN)/python benchmarks/train.py --smoke
	$(BIN)/python benchmarks/soak.py --smoke
	$(BIN)/python benchmarks/class_lm_experiment.py --smoke --cv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage htmlcov

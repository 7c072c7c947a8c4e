# The two commands for a fresh machine: `make train serve` and `make test`.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Training data: $SENTIMENT_DATA, else the shared CSV beside the repository, else the IMDB download.
SHARED_DATA    := ../shared/data/imdb/train.csv
SENTIMENT_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),imdb)

.PHONY: venv lint test train serve bench-smoke clean

venv: $(VENV)/.installed

# Installed once, and again whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

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
# type on a 1,000-review sample), training time and peak memory (500 reviews), and the soak
# test (errors under steady load; needs wrk).
bench-smoke: venv
	$(BIN)/python benchmarks/serve.py --smoke
	$(BIN)/python benchmarks/cold_start.py --smoke
	$(BIN)/python benchmarks/lean_predict.py --smoke
	$(BIN)/python benchmarks/model_quality.py --smoke
	$(BIN)/python benchmarks/train.py --smoke
	$(BIN)/python benchmarks/soak.py --smoke

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis .coverage htmlcov

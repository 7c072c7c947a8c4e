# syntax=docker/dockerfile:1
#
# One image that trains and serves `sentiment`, plus an MLflow tracking server target:
#
#   docker build -t sentiment .                                   # API / training image (default)
#   docker build --target mlflow-server -t sentiment-mlflow .     # + PostgreSQL driver for mlflow server
#
#   docker run --rm -p 8000:8000 -v "$PWD/mlruns:/app/mlruns" sentiment          # serve
#   docker run --rm -v "$PWD/mlruns:/app/mlruns" -v "$PWD/data:/data" sentiment \
#       python -m sentiment.entrypoints.train --data /data/train.csv           # train
#
# The container runs as uid/gid 1000 (APP_UID/APP_GID build args): a host folder mounted on
# /app/mlruns must be writable by that user (`mkdir -p mlruns` as a uid-1000 user, or run with
# `--user "$(id -u):$(id -g)"`, which works too: nothing in the image depends on the user's home).
# Nothing is written into the image at run time except /app/mlruns and /app/cache (mount them);
# every cache goes to /tmp, so the image also runs with a read-only root filesystem and a
# writable /tmp (`--read-only --tmpfs /tmp`).

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: a virtual environment with the dependencies and the package, compiled to bytecode.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependencies first, from the hashed runtime lock alone: pip installs exactly the pinned
# versions, refuses any file whose SHA-256 differs, and resolves nothing more (`make lock`
# regenerates it). This layer is reused until the lock changes.
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements-runtime.lock

# The package itself (a regular, non-editable install, built with the locked setuptools).
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && pip check \
    && python -c "import sentiment.entrypoints.train"

# The scientific stack ships its own test suites (about 125 MB): never imported at run time.
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && for pkg in pandas numpy scipy sklearn matplotlib pyarrow; do \
         find "$site/$pkg" -depth -type d -name tests -exec rm -rf {} + ; \
       done \
    && python -c "import pandas, numpy, scipy.sparse, sklearn.linear_model, matplotlib.pyplot, pyarrow, mlflow.sklearn"

# The PostgreSQL driver for the MLflow server target only, outside the shared venv layer.
COPY requirements-server.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps --target /opt/server-extras \
        -r requirements-server.lock

# ---------------------------------------------------------------------------------------------
# runtime: the base image, a non-root user and the venv. No compilers, no build files.
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=1000
ARG APP_GID=1000

LABEL org.opencontainers.image.title="sentiment" \
      org.opencontainers.image.description="Train a scikit-learn sentiment model, track it in MLflow, serve it with FastAPI" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/app \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    GIT_PYTHON_REFRESH=quiet \
    SENTIMENT_CACHE_DIR=/app/cache

RUN groupadd --gid "${APP_GID}" app \
    && useradd --uid "${APP_UID}" --gid app --home-dir /home/app --create-home \
       --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 0775 /app /app/mlruns /app/cache

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER ${APP_UID}:${APP_GID}

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# One worker per core (SENTIMENT_WORKERS=N to change it), each on its own SO_REUSEPORT socket,
# forked after the supervisor loaded the model once (SENTIMENT_PRELOAD=false: spawned).
CMD ["python", "-m", "sentiment.entrypoints.serve", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------------------------------------
# mlflow-server: the runtime image plus psycopg2 (one small extra layer), for the compose stack.
FROM runtime AS mlflow-server

ARG APP_UID=1000
ARG APP_GID=1000

COPY --from=builder /opt/server-extras /opt/server-extras
# Stand-alone defaults (SQLite and artifacts in one volume); compose sets a PostgreSQL store.
# MLFLOW_SERVER_ALLOWED_HOSTS must name the host names clients use (mlflow 3 checks Host).
ENV PYTHONPATH=/opt/server-extras \
    MLFLOW_BACKEND_STORE_URI=sqlite:////mlartifacts/mlflow.db \
    MLFLOW_ARTIFACTS_DESTINATION=/mlartifacts

USER 0:0
RUN install -d -o app -g app -m 0775 /mlartifacts
USER ${APP_UID}:${APP_GID}

EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]

CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--serve-artifacts"]

# ---------------------------------------------------------------------------------------------
# api (the default target, last): the API / training image, i.e. `runtime` as it is.
FROM runtime AS api

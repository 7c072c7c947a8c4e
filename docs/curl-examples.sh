#!/usr/bin/env bash
# The README's curl examples, runnable as written against a running API:
#   SENTIMENT_URL=http://127.0.0.1:8000 bash docs/curl-examples.sh
# The end-to-end tests run this file against a real uvicorn server.
set -euo pipefail
URL="${SENTIMENT_URL:-http://127.0.0.1:8000}"

# Classify one review.
curl -sS "$URL/predict" -H 'Content-Type: application/json' \
  -d '{"text": "A wonderful film with a clever script; I loved every minute of it!"}'
echo

# Classify several at once; the answers come back in the same order.
curl -sS "$URL/predict/batch" -H 'Content-Type: application/json' \
  -d '{"texts": ["Superb acting and a moving story.", "Dull, predictable and far too long."]}'
echo

# The request a client of `mlflow models serve` sends works unchanged.
curl -sS "$URL/invocations" -H 'Content-Type: application/json' \
  -d '{"dataframe_split": {"columns": ["text"], "data": [["Great fun!"], ["A waste of time."]]}}'
echo

# Which model answers: version, alias, run, training metrics, data digest, load time.
curl -sS "$URL/model"
echo

# Readiness: 200 with a model loaded, else 503 with the reason.
curl -sS "$URL/ready"
echo

# Bad input gets a clear 4xx in one error shape, never an echo of the text.
curl -sS "$URL/predict" -H 'Content-Type: application/json' -d '{"text": "   "}'
echo

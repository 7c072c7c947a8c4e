"""In-process prediction speed of one registered version, three ways, side by side:

- `numpy`: the API's default, `HashedLinearClassifier` from the version's `serving.npz`
  (loaded by the lean reader; numpy only);
- `sklearn-lean`: `SklearnClassifier` from its `model.skops` (the project's lean scikit-learn
  path: NgramHasher, one sparse product);
- `pipeline`: scikit-learn's own `Pipeline.predict_proba` on the same skops model.

Rounds alternate the order. Prints single-review latency (p50, p99 of `predict([text])`) and
batch throughput (reviews/s of `predict` on 1,000 reviews, chunks of 250) per way, the ratios,
and the largest probability difference from the pipeline on the reviews used.

    python benchmarks/lean_predict.py --tracking-uri sqlite:////path/mlflow.db --version 1
    python benchmarks/lean_predict.py --smoke      # trains a small model first; 1 short round
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _common import DEFAULT_DATA, MODEL_NAME, read_reviews, spread_sample, train_small

Predict = Callable[[Sequence[str]], Any]


def read_texts(path: Path, n: int) -> list[str]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return texts[-n:]  # the end of the file: mostly not what --smoke trains on


def single_latencies(predict: Predict, texts: Sequence[str]) -> list[float]:
    times = []
    for text in texts:
        started = time.perf_counter()
        predict([text])
        times.append(time.perf_counter() - started)
    return times


def batch_rate(predict: Predict, texts: Sequence[str], chunk: int = 250) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), chunk):
        predict(texts[i : i + chunk])
    return len(texts) / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri")
    parser.add_argument("--version", default="1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SENTIMENT_DATA", "")))
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    data = args.data if args.data.is_file() else DEFAULT_DATA

    from sentiment.adapters.mlflow_reader import lean_reader
    from sentiment.adapters.mlflow_registry import MlflowModelRegistry
    from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader
    from sentiment.adapters.sklearn_classifier import SklearnClassifier

    with tempfile.TemporaryDirectory(prefix="sentiment-predict-") as tmp:
        uri = args.tracking_uri
        rounds, singles, batch = args.rounds, args.singles, args.batch
        if args.smoke or not uri:
            uri = train_small(spread_sample(read_reviews(data)), Path(tmp))
            if args.smoke:
                rounds, singles, batch = 1, 50, 250
        reader = lean_reader(uri, MODEL_NAME)
        assert isinstance(reader, SqliteModelReader) or "://" in uri
        numpy_model = reader.load(args.version)
        sklearn_model = MlflowModelRegistry(tracking_uri=uri, model_name=MODEL_NAME).load(
            args.version
        )
        assert isinstance(sklearn_model, SklearnClassifier)
        pipeline = sklearn_model.pipeline
        ways: dict[str, Predict] = {
            "numpy": numpy_model.predict,
            "sklearn-lean": sklearn_model.predict,
            "pipeline": pipeline.predict_proba,
        }
        print(f"numpy model: {type(numpy_model).__name__}; version {args.version} of {uri}")
        texts = read_texts(data, max(singles, batch))
        expected = pipeline.predict_proba(texts)
        gap = float(np.abs(numpy_model.predict_proba(texts) - expected).max())  # type: ignore[attr-defined]

        lat: dict[str, list[float]] = {w: [] for w in ways}
        rate: dict[str, list[float]] = {w: [] for w in ways}
        for round_ in range(rounds):
            order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
            for way in order:
                lat[way].extend(single_latencies(ways[way], texts[:singles]))
                rate[way].append(batch_rate(ways[way], texts[:batch]))
        print(f"{'way':<14} {'single p50 ms':>14} {'p99 ms':>8} {'batch reviews/s (min-max)':>28}")
        for way in ways:
            p50 = statistics.median(lat[way]) * 1e3
            p99 = float(np.percentile(lat[way], 99)) * 1e3
            r = statistics.median(rate[way])
            print(
                f"{way:<14} {p50:14.3f} {p99:8.3f} {r:14.0f} "
                f"({min(rate[way]):.0f}-{max(rate[way]):.0f})"
            )
        base = statistics.median(lat["numpy"]), statistics.median(rate["numpy"])
        for way in ("sklearn-lean", "pipeline"):
            print(
                f"numpy / {way}: single p50 latency {base[0] / statistics.median(lat[way]):.2f}x "
                f"(lower is faster), batch throughput {base[1] / statistics.median(rate[way]):.2f}x"
            )
        print(f"largest probability difference numpy vs pipeline: {gap:.2e} on {len(texts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

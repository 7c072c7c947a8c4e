"""Model quality benchmark: accuracy, fit time, memory, artifact, load and predict speed.

For every model type, in one run, each in a fresh subprocess (so that its peak RSS is its own):

- accuracy on the stratified 20% split the training CLI uses (`stratified_split`, seed 42) and
  k-fold cross-validation accuracy (stratified, shuffled, seed 42);
- on the IMDB train half in its file order, cross-validation on movie-grouped folds
  (`movie_folds.py`: no movie on both sides, as between IMDB's train and test halves), and on
  the same folds the reference model whose official-test accuracy is known (`NbReference`,
  91.55%): 91.55% plus the difference between the two is an estimate of the official-test
  accuracy, compared with the issue's 92.0% (shuffled folds and the split favour models that
  learn titles and names, which the official test does not reward);
- with `--eval-data PATH` (the official IMDB test half, say), the accuracy on that file of a
  model fitted on every row of `--data`, as `train --eval-data` fits and scores it, against the
  issue's 92.0% (its other accuracy targets are this one translated to the split);
- fit time on the split's training part (median over that fit and the CV fits: all fit 80%);
- peak RSS of the process after fitting (data loaded, model fitted, split scored);
- artifact size: the `model.skops` that `mlflow.sklearn.save_model` writes (what MLflow logs),
  and the same pipeline saved compressed by `skops_format.dump`;
- load time: `skops_format.load` (trusted types) + building the classifier, median of 5;
- single-review predict latency (p50, p99) over held-out reviews, one `predict([text])` each;
- batch throughput: `predict(all held-out texts)` at once, reviews/s, median of 3;
- the serving path the API uses: `serving.npz` (`serving_export.hashed_linear_model`, what
  registration logs beside `model.skops`), its size on disk, load time
  (`HashedLinearClassifier.from_file`, numpy only, median of 5), p50/p99 of one `predict([text])`
  and batch reviews/s, and whether it predicts what the scikit-learn model predicts. Single
  predictions of both paths are timed interleaved (text by text, alternating which goes first)
  and batches alternate too, so that both see the same load on a shared machine.

Each figure is compared with issue 4's targets in the same run (PASS/FAIL). The targets bind the
default model type; other types are shown against them for comparison. The machine is shared:
timings are medians, and the load average is printed next to them.

    python benchmarks/model_quality.py            # full: 25k reviews, CV, movie folds (~15 min)
    python benchmarks/model_quality.py --smoke    # 1,000 reviews, 2 folds, a few seconds each
    python benchmarks/model_quality.py --model-types nblr-lm --eval-data /elsewhere/test.csv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from _common import DEFAULT_DATA
from movie_folds import REFERENCE_OFFICIAL


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    limit: float
    higher_is_better: bool
    unit: str

    def check(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit

    def describe(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.limit:g}{self.unit}"


# Issue 4's targets for the default model type (full 25k training set, 2 cores).
# The size, load and predict targets are shown for both ways of serving a model: scikit-learn
# from `model.skops` (MLflow's way) and numpy from `serving.npz` (the API's way).
TARGETS = (
    Target("split_accuracy", "split acc", 0.926, True, ""),
    Target("cv_accuracy", "CV acc", 0.926, True, ""),
    Target("fit_s", "fit s", 60.0, False, " s"),
    Target("peak_rss_mb", "peak RSS MB", 2048.0, False, " MB"),
    Target("artifact_mb", "skops MB", 20.0, False, " MB"),
    Target("load_s", "skops load s", 1.0, False, " s"),
    Target("p50_ms", "sklearn p50 ms", 0.5, False, " ms"),
    Target("batch_per_s", "sklearn batch/s", 5000.0, True, "/s"),
    Target("serving_mb", "npz MB", 20.0, False, " MB"),
    Target("serving_load_s", "npz load s", 1.0, False, " s"),
    Target("serving_p50_ms", "npz p50 ms", 0.5, False, " ms"),
    Target("serving_batch_per_s", "npz batch/s", 5000.0, True, "/s"),
)
# With `--eval-data`: the target itself, on the official test half (issue 4: 92.0%).
EVAL_TARGET = Target("eval_accuracy", "eval acc", 0.920, True, "")
# On IMDB's train half: the same target, estimated from movie-grouped folds and the reference.
ESTIMATE_TARGET = Target("official_estimate", "official est.", 0.920, True, "")
ACCURACY_KEYS = {"split_accuracy", "cv_accuracy", "eval_accuracy", "official_estimate"}


# -- the worker: one model type, in its own process -----------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _cpu_timed(call: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of a call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold

    from sentiment.adapters import skops_format
    from sentiment.adapters.sklearn_classifier import SklearnClassifier
    from sentiment.domain.model import LabelledDataset
    from sentiment.domain.split import stratified_split

    frame = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    if args.rows:
        frame = frame.sample(n=min(args.rows, len(frame)), random_state=0)
    dataset = LabelledDataset(
        texts=tuple(frame["text"].tolist()), labels=tuple(frame["label"].tolist())
    )
    # Movie-grouped folds of the whole file; this sample's rows keep their row numbers.
    movie_folds = np.load(args.movie_folds)[frame.index.to_numpy()] if args.movie_folds else None
    if args.worker == REFERENCE:
        return {
            "model_type": REFERENCE,
            "rows": len(dataset),
            **_movie_cv(args, frame, movie_folds),
        }
    hyperparameters = json.loads(args.hyperparameters)
    split = stratified_split(dataset, 0.2, 42)
    train_texts, train_labels = list(split.train.texts), list(split.train.labels)
    test_texts, test_labels = list(split.test.texts), list(split.test.labels)

    def accuracy(classifier: SklearnClassifier, texts: list[str], labels: list[str]) -> float:
        predicted = [p.label for p in classifier.predict(texts)]
        return float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))

    classifier = SklearnClassifier(args.worker, hyperparameters)
    fit_wall, fit_cpu = _cpu_timed(lambda: classifier.fit(train_texts, train_labels))
    fit_times = [fit_wall]
    split_accuracy = accuracy(classifier, test_texts, test_labels)
    peak_rss = _rss_mb()  # before MLflow is imported and before cross-validation

    # The serving path: the numpy-only model the API loads from `serving.npz`.
    from sentiment.adapters.hashed_linear import FILE_NAME
    from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
    from sentiment.adapters.serving_export import hashed_linear_model

    serving_dir = tempfile.TemporaryDirectory()
    serving_file = Path(serving_dir.name) / FILE_NAME
    exported = hashed_linear_model(classifier)
    serving: HashedLinearClassifier | None = None
    serving_loads: list[float] = []
    if exported is not None:
        exported.save(serving_file)
        for _ in range(5):
            seconds, serving = _timed(lambda: HashedLinearClassifier.from_file(serving_file))
            serving_loads.append(seconds)

    # Latency and throughput on held-out reviews, warmed up first; both paths side by side.
    paths: dict[str, Any] = {"sklearn": classifier}
    if serving is not None:
        paths["serving"] = serving
    singles: dict[str, list[float]] = {name: [] for name in paths}
    singles_cpu: dict[str, list[float]] = {name: [] for name in paths}
    batches: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for model in paths.values():
        model.predict(test_texts[:50])
    order = list(paths)
    for i, text in enumerate(test_texts[: args.singles]):
        for name in order if i % 2 == 0 else order[::-1]:
            predict = paths[name].predict
            wall, cpu = time.perf_counter(), time.process_time()
            predict([text])
            singles[name].append(time.perf_counter() - wall)
            singles_cpu[name].append(time.process_time() - cpu)
    for round_ in range(3):
        for name in order if round_ % 2 == 0 else order[::-1]:
            batches[name].append(_cpu_timed(partial(paths[name].predict, test_texts)))
    serving_same, serving_diff = None, None
    if serving is not None:
        sample = test_texts[:1000]
        expected = classifier.predict_proba(sample)
        got = serving.predict_proba(sample)
        serving_diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
        serving_same = bool(np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)))
    serving_mb = serving_file.stat().st_size / 1e6 if serving is not None else None
    serving_dir.cleanup()

    def p50_ms(times: list[float]) -> float | None:
        return statistics.median(times) * 1e3 if times else None

    def rate(runs: list[tuple[float, float]], which: int) -> float | None:
        return len(test_texts) / statistics.median(r[which] for r in runs) if runs else None

    # The artifact: what mlflow.sklearn writes (in smoke mode, the same uncompressed
    # `skops.io.dump` call without importing MLflow), and the compressed skops file.
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            mlflow_file = Path(tmp) / "model.skops"
            skops_format.dump(classifier.pipeline, mlflow_file, compress=False)
        else:
            import mlflow.sklearn

            mlflow_dir = Path(tmp) / "mlflow-model"
            mlflow.sklearn.save_model(
                classifier.pipeline,
                str(mlflow_dir),
                serialization_format="skops",
                skops_trusted_types=list(skops_format.TRUSTED_TYPES),
            )
            mlflow_file = mlflow_dir / "model.skops"
        compressed = Path(tmp) / "compressed.skops"
        skops_format.dump(classifier.pipeline, compressed, compress=True)
        loads = []
        for _ in range(5):
            seconds, loaded = _timed(
                lambda: SklearnClassifier(args.worker, pipeline=skops_format.load(mlflow_file))
            )
            loads.append(seconds)
        same = np.array_equal(
            loaded.predict_proba(test_texts[:200]), classifier.predict_proba(test_texts[:200])
        )
        artifact_mb = mlflow_file.stat().st_size / 1e6
        compressed_mb = compressed.stat().st_size / 1e6

    # Cross-validation on the whole (sampled) dataset.
    texts, labels = list(dataset.texts), np.asarray(dataset.labels)
    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=42)
    cv = []
    for train_idx, test_idx in folds.split(np.zeros(len(labels)), labels):
        fold = SklearnClassifier(args.worker, hyperparameters)
        fold_texts, fold_labels = [texts[i] for i in train_idx], labels[train_idx].tolist()
        started = time.perf_counter()
        fold.fit(fold_texts, fold_labels)
        fit_times.append(time.perf_counter() - started)
        cv.append(accuracy(fold, [texts[i] for i in test_idx], labels[test_idx].tolist()))

    movie_cv = _movie_cv(args, frame, movie_folds) if movie_folds is not None else {}

    evaluation: dict[str, Any] = {"eval_accuracy": None}
    if args.eval_data:
        from sentiment.adapters.csv_dataset import CsvDatasetSource
        from sentiment.domain.split import evaluation_split, shared_texts

        # As the training CLI does it with --eval-data: every row, in the seeded order.
        whole = evaluation_split(dataset, CsvDatasetSource(args.eval_data).load(), 42)
        final = SklearnClassifier(args.worker, hyperparameters)
        final.fit(list(whole.train.texts), list(whole.train.labels))
        evaluation = {
            "eval_accuracy": accuracy(final, list(whole.test.texts), list(whole.test.labels)),
            "eval_rows": len(whole.test),
            "eval_train_rows": len(whole.train),
            "eval_overlap": shared_texts(whole.train, whole.test),
        }

    return {
        "model_type": args.worker,
        "hyperparameters": classifier.hyperparameters(),
        "rows": len(dataset),
        "split_accuracy": split_accuracy,
        "cv_accuracy": float(np.mean(cv)),
        "cv_std": float(np.std(cv)),
        "cv_folds": cv,
        **movie_cv,
        **evaluation,
        "fit_s": statistics.median(fit_times),
        "fit_times": fit_times,
        "peak_rss_mb": peak_rss,
        "artifact_mb": artifact_mb,
        "artifact_compressed_mb": compressed_mb,
        "load_s": statistics.median(loads),
        "loaded_predicts_the_same": bool(same),
        "p50_ms": p50_ms(singles["sklearn"]),
        "p99_ms": float(np.percentile(singles["sklearn"], 99)) * 1e3,
        "batch_per_s": rate(batches["sklearn"], 0),
        "batch_size": len(test_texts),
        # The serving path (None when the model type has no serving.npz form).
        "serving_mb": serving_mb,
        "serving_load_s": statistics.median(serving_loads) if serving_loads else None,
        "serving_p50_ms": p50_ms(singles.get("serving", [])),
        "serving_p99_ms": float(np.percentile(singles["serving"], 99)) * 1e3
        if "serving" in singles
        else None,
        "serving_batch_per_s": rate(batches.get("serving", []), 0),
        "serving_predicts_the_same": serving_same,
        "serving_max_probability_diff": serving_diff,
        # CPU time of this process: what the figures would be on an idle machine, roughly.
        "fit_cpu_s": fit_cpu,
        "p50_cpu_ms": p50_ms(singles_cpu["sklearn"]),
        "batch_per_cpu_s": rate(batches["sklearn"], 1),
        "serving_p50_cpu_ms": p50_ms(singles_cpu.get("serving", [])),
        "serving_batch_per_cpu_s": rate(batches.get("serving", []), 1),
    }


REFERENCE = "reference"  # the worker that measures `NbReference` on the movie folds


def _movie_cv(args: argparse.Namespace, frame: Any, folds: Any) -> dict[str, Any]:
    """Accuracy over movie-grouped folds (pooled: correct / rows), of the model type or, for the
    reference worker, of `NbReference`."""
    import numpy as np

    from movie_folds import NbReference
    from sentiment.adapters.sklearn_classifier import SklearnClassifier

    texts, labels = frame["text"].tolist(), np.asarray(frame["label"].tolist())
    correct, per_fold = 0, []
    for fold in range(int(folds.max()) + 1):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        if len(test) == 0:  # a small sample can miss a fold
            continue
        model: Any = (
            NbReference()
            if args.worker == REFERENCE
            else SklearnClassifier(args.worker, json.loads(args.hyperparameters))
        )
        model.fit([texts[i] for i in train], labels[train].tolist())
        predicted = model.predict([texts[i] for i in test])
        if args.worker != REFERENCE:
            predicted = [p.label for p in predicted]
        right = int(np.sum(np.asarray(predicted) == labels[test]))
        correct += right
        per_fold.append(right / len(test))
    return {"movie_cv_accuracy": correct / len(texts), "movie_cv_folds": per_fold}


def _write_movie_folds(data: str, k: int, directory: Path) -> Path | None:
    """Movie-grouped folds of the whole file (workers take the rows they sample), or None when
    the file is not IMDB's train half in its own order."""
    import numpy as np
    import pandas as pd

    from movie_folds import movie_folds

    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    folds = movie_folds(frame["text"].tolist(), frame["label"].tolist(), k)
    if folds is None:
        return None
    path = directory / "movie_folds.npy"
    np.save(path, folds)
    return path


# -- the driver -------------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _cell(target: Target, value: float | None, smoke: bool) -> str:
    if value is None:
        return "n/a"
    text = _format(value, target.key)
    if smoke and target.key in ACCURACY_KEYS:
        return f"{text} n/a"
    return f"{text} {'PASS' if target.check(value) else 'FAIL'}"


def _format(value: float, key: str) -> str:
    if key in ACCURACY_KEYS:
        return f"{value:.4f}"
    if key.endswith("batch_per_s"):
        return f"{value:,.0f}"
    if key.endswith(("p50_ms", "load_s")):
        return f"{value:.3f}"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def table(
    results: Sequence[dict[str, Any]],
    smoke: bool,
    default: str,
    targets: Sequence[Target] = TARGETS,
) -> str:
    header = ["model type"] + [t.label for t in targets]
    rows = [header, ["target"] + [t.describe() for t in targets]]
    for r in results:
        name = r["model_type"] + (" (default)" if r["model_type"] == default else "")
        rows.append([name] + [_cell(t, r.get(t.key), smoke) for t in targets])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def details(results: Sequence[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        folds = ", ".join(f"{a:.4f}" for a in r["cv_folds"])
        fits = ", ".join(f"{s:.1f}" for s in r["fit_times"])
        lines.append(
            f"{r['model_type']}: {r['rows']} rows; CV {r['cv_accuracy']:.4f} ± {r['cv_std']:.4f} "
            f"(folds {folds}); fits {fits} s; p99 {r['p99_ms']:.3f} ms; batch of "
            f"{r['batch_size']}; CPU time: fit {r['fit_cpu_s']:.1f} s, "
            f"p50 {r['p50_cpu_ms']:.3f} ms, "
            f"batch {r['batch_per_cpu_s']:,.0f} reviews per CPU-s; "
            f"skops compressed {r['artifact_compressed_mb']:.2f} MB; "
            f"loaded model predicts the same: {r['loaded_predicts_the_same']}; "
            + (
                f"serving.npz: p99 {r['serving_p99_ms']:.3f} ms, CPU time p50 "
                f"{r['serving_p50_cpu_ms']:.3f} ms, batch "
                f"{r['serving_batch_per_cpu_s']:,.0f} reviews per CPU-s, same labels as "
                f"scikit-learn: {r['serving_predicts_the_same']} (largest probability "
                f"difference {r['serving_max_probability_diff']:.1e}); "
                if r.get("serving_mb") is not None
                else "no serving.npz form; "
            )
            + (
                f"movie CV {r['movie_cv_accuracy']:.4f} (folds "
                + ", ".join(f"{a:.4f}" for a in r["movie_cv_folds"])
                + "); "
                if r.get("movie_cv_accuracy") is not None
                else ""
            )
            + (
                f"eval data: {r['eval_rows']} rows, fitted on {r['eval_train_rows']}, "
                f"{r['eval_overlap']} of them also in the training data; "
                if r.get("eval_accuracy") is not None
                else ""
            )
            + f"hyperparameters {json.dumps(r['hyperparameters'], sort_keys=True)}"
        )
    return "\n".join(lines)


def _measure(
    args: argparse.Namespace, model_types: Sequence[str], movie_folds: Path | None
) -> list[dict[str, Any]] | None:
    """Each worker's figures (the reference's first, with movie folds), or None if one failed."""
    results: list[dict[str, Any]] = []
    for model_type in [REFERENCE, *model_types] if movie_folds else model_types:
        command = [
            sys.executable,
            __file__,
            "--worker",
            model_type,
            "--data",
            args.data,
            "--folds",
            str(args.folds),
            "--rows",
            str(args.rows),
            "--singles",
            str(args.singles),
            "--hyperparameters",
            args.hyperparameters,
            *(["--smoke"] if args.smoke else []),
            *(["--eval-data", args.eval_data] if args.eval_data else []),
            *(["--movie-folds", str(movie_folds)] if movie_folds else []),
        ]
        print(f"measuring {model_type} ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            print(f"error: the {model_type} worker failed", file=sys.stderr)
            return None
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=os.environ.get("SENTIMENT_TEST_DATA", str(DEFAULT_DATA)),
        help="CSV with text,label columns (default: $SENTIMENT_TEST_DATA or ../shared/...)",
    )
    parser.add_argument("--model-types", nargs="*", help="default: every model type")
    parser.add_argument("--smoke", action="store_true", help="1,000 rows, 2 folds: seconds")
    parser.add_argument("--folds", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="sample this many rows")
    parser.add_argument("--singles", type=int, default=None, help="single predictions to time")
    parser.add_argument(
        "--hyperparameters", default="{}", help="JSON object applied to every model type"
    )
    parser.add_argument(
        "--eval-data",
        help="labelled CSV (text,label) to score a model fitted on every row of --data on, "
        "e.g. the official IMDB test half; adds the 'eval acc' target",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--movie-folds", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.folds is None:
        args.folds = 2 if args.smoke else 5
    if args.rows is None:
        args.rows = 1000 if args.smoke else 0
    if args.singles is None:
        args.singles = 100 if args.smoke else 1000

    if args.worker:
        print(json.dumps(run_worker(args)))
        return 0

    from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE, DEFAULTS

    if not Path(args.data).is_file():
        print(f"error: no data at {args.data} (set SENTIMENT_TEST_DATA)", file=sys.stderr)
        return 2
    if args.eval_data and not Path(args.eval_data).is_file():
        print(f"error: no evaluation data at {args.eval_data}", file=sys.stderr)
        return 2
    model_types = args.model_types or sorted(DEFAULTS, key=lambda t: t != DEFAULT_MODEL_TYPE)
    started_load = _load()
    with tempfile.TemporaryDirectory() as scratch:  # the folds file the workers read
        movie_folds = _write_movie_folds(args.data, args.folds, Path(scratch))
        results = _measure(args, model_types, movie_folds)
    if results is None:
        return 1
    targets = (
        *TARGETS,
        *([ESTIMATE_TARGET] if movie_folds else []),
        *([EVAL_TARGET] if args.eval_data else []),
    )
    reference = results.pop(0) if movie_folds else None
    if reference is not None:
        for r in results:
            r["official_estimate"] = (
                REFERENCE_OFFICIAL + r["movie_cv_accuracy"] - reference["movie_cv_accuracy"]
            )

    mode = f"smoke: {args.rows}-row sample, accuracy not comparable" if args.smoke else "full data"
    print(
        f"# model quality ({mode}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"# {_machine()}; load average {started_load} at start, {_load()} at end\n"
    )
    if reference is not None:
        folds = ", ".join(f"{a:.4f}" for a in reference["movie_cv_folds"])
        print(
            f"# official est. = {REFERENCE_OFFICIAL:.4f} (the reference NB-LR 1-2gram on the "
            f"official test) + movie CV - the reference's movie CV, "
            f"{reference['movie_cv_accuracy']:.4f} (folds {folds})\n"
        )
    else:
        print("# no movie-grouped folds: the data is not IMDB's train half in its file order\n")
    print(table(results, args.smoke, DEFAULT_MODEL_TYPE, targets))
    print()
    print(details(results))
    if args.json:
        args.json.write_text(json.dumps({"reference": reference, "results": results}, indent=2))
    default = next((r for r in results if r["model_type"] == DEFAULT_MODEL_TYPE), None)
    if args.smoke or default is None:
        return 0
    return 0 if all(t.check(default[t.key]) for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())

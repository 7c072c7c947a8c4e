"""Small labelled data sampled at run time from the shared IMDB file (never committed).

The shared file is `SENTIMENT_TEST_DATA`, by default `<repository root>/../shared/data/imdb/
train.csv`.
"""

from __future__ import annotations

import csv
import functools
import os
import random
from pathlib import Path

import pytest

from sentiment.domain.model import LabelledDataset

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_DATA = REPO_ROOT.parent / "shared" / "data" / "imdb" / "train.csv"

Row = tuple[str, str]


def shared_data_path() -> Path:
    """The shared IMDB train.csv, from SENTIMENT_TEST_DATA or beside the repository."""
    return Path(os.environ.get("SENTIMENT_TEST_DATA", str(DEFAULT_TEST_DATA))).expanduser()


@functools.cache
def _all_rows() -> tuple[Row, ...]:
    path = shared_data_path()
    if not path.is_file():
        pytest.fail(f"shared test data not found at {path}: set SENTIMENT_TEST_DATA")
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple((row["text"], row["label"]) for row in csv.DictReader(handle))


def sample_rows(count: int, seed: int) -> list[Row]:
    """`count` rows, balanced between the labels, shuffled by `seed`. Different seeds give
    overlapping samples; use `disjoint_samples` for train and held-out data."""
    return disjoint_samples([count], seed)[0]


def disjoint_samples(counts: list[int], seed: int) -> list[list[Row]]:
    """Balanced samples of the given sizes that share no row."""
    rng = random.Random(seed)
    by_label: dict[str, list[Row]] = {}
    for row in _all_rows():
        by_label.setdefault(row[1], []).append(row)
    pools = {label: rng.sample(rows, len(rows)) for label, rows in sorted(by_label.items())}
    labels = sorted(pools)
    samples: list[list[Row]] = []
    for count in counts:
        sample: list[Row] = []
        for i, label in enumerate(labels):
            take = count // len(labels) + (1 if i < count % len(labels) else 0)
            sample.extend(pools[label][:take])
            pools[label] = pools[label][take:]
        rng.shuffle(sample)
        samples.append(sample)
    return samples


def write_csv(path: Path, rows: list[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def to_dataset(rows: list[Row], name: str) -> LabelledDataset:
    return LabelledDataset(
        texts=tuple(t for t, _ in rows),
        labels=tuple(label for _, label in rows),
        name=name,
        source="tests",
        digest=f"{name}-{len(rows)}",
    )

"""Write the IMDB train half as `text,label,rating` CSV, the layout of the shared test data file.

GitHub runners have no `../shared/data/imdb/train.csv`: CI makes one from the official archive,
downloaded (or taken from the cache) and checked against its SHA-256 by the project's own
ImdbDatasetSource. Usage: python .github/scripts/imdb_csv.py OUT.csv [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tarfile
from pathlib import Path

from sentiment.adapters.imdb_dataset import ImdbDatasetSource

_MEMBER = re.compile(r"^(?:\./)?aclImdb/train/(pos|neg)/(\d+)_(\d+)\.txt$")
_LABELS = {"pos": "positive", "neg": "negative"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--cache-dir", default="~/.cache/sentiment")
    args = parser.parse_args()
    archive = ImdbDatasetSource(cache_dir=args.cache_dir).fetch()
    rows: list[tuple[str, int, int, str]] = []
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            match = _MEMBER.match(member.name)
            handle = tar.extractfile(member) if match and member.isfile() else None
            if match is None or handle is None:
                continue
            text = handle.read().decode("utf-8", errors="replace").strip()
            rows.append((_LABELS[match.group(1)], int(match.group(2)), int(match.group(3)), text))
    rows.sort(key=lambda row: (row[0], row[1]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(["text", "label", "rating"])
        writer.writerows((text, label, rating) for label, _, rating, text in rows)
    print(f"{args.output}: {len(rows)} reviews", file=sys.stderr)
    return 0 if len(rows) == 25_000 else 1


if __name__ == "__main__":
    sys.exit(main())

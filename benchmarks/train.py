"""Training benchmark: `python -m sentiment.entrypoints.train` end to end, time and peak memory.

Runs the training CLI as a child process on the full IMDB train half (25,000 reviews) into a
fresh SQLite MLflow store, and prints, against the targets (<= 60 s, <= 2 GB):

- wall time from process start to exit (load to registered and gated, imports included), and
  the CPU time it used (user + system: on a shared machine the wall time also counts waiting for
  a core, the CPU time does not);
- each stage's time as the CLI reports it;
- peak resident memory of the process (`ru_maxrss` of the waited child).

    python benchmarks/train.py [--data PATH] [--repeat 1] [--json FILE]
    python benchmarks/train.py --smoke     # CI: 500 sampled reviews, small hashing space
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import DEFAULT_DATA, clean_env, read_reviews, spread_sample, write_reviews

SMOKE_ROWS = 500
TARGET_S = 60.0
TARGET_RSS_MB = 2048.0
_STAGE = re.compile(r"^\[\d+/\d+\]\s+(\w+)\s+\.\.\.(.*)$")
_SECONDS = re.compile(r"(?:^|\s)([\d.]+) s\b")


@dataclass
class TrainRun:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stages: dict[str, float]
    rows: int
    accuracy: float | None


def parse_stages(output: str) -> dict[str, float]:
    """Stage -> seconds from the CLI's progress lines (`[3/7] fit ... 45.0 s ...`). A library's
    own output can split a line (`[6/7] register ...Successfully registered...`); the seconds
    are then on the next line that starts with them."""
    stages: dict[str, float] = {}
    current: str | None = None
    for line in output.splitlines():
        stage = _STAGE.match(line)
        rest = line
        if stage:
            current, rest = stage.group(1), stage.group(2)
        if current is None:
            continue
        seconds = _SECONDS.match(" " + rest.strip())
        if seconds:
            stages[current] = float(seconds.group(1))
            current = None
    return stages


def sample_csv(data: Path, rows: int, out: Path) -> Path:
    return write_reviews(out, spread_sample(read_reviews(data), rows))


def count_rows(data: Path) -> int:
    with data.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def train_once(data: Path, workdir: Path, extra: Sequence[str]) -> TrainRun:
    """One training run in a fresh store; its wall time, CPU time, peak RSS and stages."""
    store = workdir / f"store-{time.monotonic_ns()}"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    output = store / "trained.json"
    command = [sys.executable, "-m", "sentiment.entrypoints.train", "--data", str(data)]
    command += ["--tracking-uri", uri, "--output-json", str(output), *extra]
    env = clean_env()
    env["SENTIMENT_ARTIFACT_ROOT"] = str(store / "artifacts")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd=store, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"training failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    trained = json.loads(output.read_text()) if output.exists() else {}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TrainRun(
        wall_s=wall,
        cpu_s=cpu,
        # ru_maxrss of children: the largest peak of any waited child, in KiB on Linux.
        peak_rss_mb=after.ru_maxrss / 1024.0,
        stages=parse_stages(completed.stderr + completed.stdout),
        rows=count_rows(data),
        accuracy=(trained.get("metrics") or {}).get("accuracy"),
    )


def report(runs: Sequence[TrainRun], smoke: bool) -> str:
    lines = []
    for i, run in enumerate(runs, 1):
        stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in run.stages.items())
        lines.append(
            f"run {i}: {run.rows} rows, wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s, "
            f"peak RSS {run.peak_rss_mb:.0f} MB, accuracy {run.accuracy}"
        )
        lines.append(f"        stages (s): {stages}")
        lines.append(
            f"        outside those stages (interpreter, imports, MLflow store setup, "
            f"registration): {run.wall_s - sum(run.stages.values()):.1f} s"
        )
    wall = sorted(r.wall_s for r in runs)[len(runs) // 2]
    cpu = sorted(r.cpu_s for r in runs)[len(runs) // 2]
    rss = max(r.peak_rss_mb for r in runs)
    scope = "smoke sample: the targets are for the full 25,000 reviews" if smoke else "full data"
    lines.append(
        f"training end to end: wall {wall:.1f} s (target <= {TARGET_S:.0f} s: "
        f"{'met' if wall <= TARGET_S else 'MISSED'}), CPU {cpu:.1f} s "
        f"(<= {TARGET_S:.0f}: {'met' if cpu <= TARGET_S else 'MISSED'}); "
        f"peak RSS {rss:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB: "
        f"{'met' if rss <= TARGET_RSS_MB else 'MISSED'}) [{scope}]"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="CSV with text,label columns")
    parser.add_argument("--repeat", type=int, default=1, help="training runs (median reported)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--smoke", action="store_true", help="500 reviews, small model (CI)")
    args = parser.parse_args(argv)
    data = args.data or Path(os.environ.get("SENTIMENT_TEST_DATA", str(DEFAULT_DATA)))
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        extra: list[str] = []
        if args.smoke:
            data = sample_csv(data, SMOKE_ROWS, workdir / "sample.csv")
            extra += ["-p", "n_features_log2=18", "--promotion-floor", "0"]
        runs = [train_once(data, workdir, extra) for _ in range(max(1, args.repeat))]
    print(report(runs, args.smoke))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

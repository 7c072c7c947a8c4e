"""Cold start and resident memory of `uvicorn sentiment.entrypoints.api:app`, per registry reader.

Starts the API (one worker) again and again on the same registered version, alternating the
readers each round (`SENTIMENT_SERVING_READER=lean`: sqlite3/REST and the numpy `serving.npz`;
`mlflow`: MLflow's client and the skops model), and measures

- cold start: from process start to the first 200 on `POST /predict`, and the CPU time the
  server process used until then (less sensitive than wall time to other jobs on the machine);
- RSS of the worker right then, and after `--requests` more predictions;
- which heavy modules the worker imported (from its own `/proc/PID/maps`: mapped `.so` files of
  scikit-learn, scipy, pandas, MLflow's SQLAlchemy...).

and the same for `benchmarks/bare_app.py` (`bare`: FastAPI with a constant `/predict`, the floor
of the framework on this machine right now). Prints the median and the spread per reader, and the
ratios lean / mlflow and lean / bare.

    python benchmarks/cold_start.py --tracking-uri sqlite:////path/mlflow.db --version 1 --rounds 5
    python benchmarks/cold_start.py --smoke    # trains a small model first; 1 round
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    DEFAULT_DATA,
    MODEL_NAME,
    clean_env,
    cpu_seconds,
    free_port,
    post,
    read_reviews,
    rss_mb,
    spread_sample,
    stop_group,
    train_small,
)

READERS = ("lean", "mlflow")
BARE = "bare"  # benchmarks/bare_app.py: the framework alone, the floor
REVIEW = (
    "I went in expecting little and came out delighted. The script is sharp, the two leads have "
    "real chemistry, and the final act ties every thread together without a single cheap trick. "
    "A couple of scenes drag in the middle, but the score and the photography carry them. "
    "Warmly recommended to anyone who misses smart, funny films made for grown-ups!"
)
HEAVY = ("sklearn", "scipy", "pandas", "mlflow", "sqlalchemy", "skops", "pyarrow")


@dataclass(frozen=True)
class Start:
    reader: str
    cold_start_s: float
    cpu_s: float  # CPU time (user + system) the server used until then: robust to a busy machine
    rss_first_mb: float
    rss_warm_mb: float
    heavy: tuple[str, ...]


def heavy_modules(pid: int) -> tuple[str, ...]:
    """Which heavy packages have native code mapped into the process (so were imported)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return tuple(name for name in HEAVY if f"/site-packages/{name}/" in maps)


def server_env(tracking_uri: str, version: str, reader: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        SENTIMENT_TRACKING_URI=tracking_uri,
        SENTIMENT_MODEL_VERSION=version,
        SENTIMENT_MODEL_NAME=MODEL_NAME,
        SENTIMENT_SERVING_READER=reader,
        SENTIMENT_RELOAD_INTERVAL_S="0",
    )
    return env


def start_once(tracking_uri: str, version: str, reader: str, requests: int, workdir: Path) -> Start:
    port = free_port()
    url = f"http://127.0.0.1:{port}/predict"
    body = json.dumps({"text": REVIEW}).encode()
    args = [sys.executable, "-m", "uvicorn"]
    if reader == BARE:
        args += ["--app-dir", str(Path(__file__).resolve().parent), "bare_app:app"]
    else:
        args += ["sentiment.entrypoints.api:app"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    log = (workdir / f"{reader}.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        args,
        env=server_env(tracking_uri, version, reader),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{reader}: the server exited; see {log.name}")
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"{reader}: no answer in 300 s")
            with contextlib.suppress(OSError):
                if post(url, body) == 200:
                    break
            time.sleep(0.01)
        cold = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
        first = rss_mb(process.pid)
        for _ in range(requests):
            post(url, body)
        return Start(reader, cold, cpu, first, rss_mb(process.pid), heavy_modules(process.pid))
    finally:
        stop_group(process, 20)
        log.close()


def summary(starts: Sequence[Start]) -> str:
    lines = [
        f"{'reader':<8} {'cold start s (min-max)':<26} {'CPU s':<7} {'RSS first MB':<14} "
        f"{'RSS warm MB (min-max)':<24} heavy modules loaded"
    ]
    medians: dict[str, tuple[float, float]] = {}
    for reader in (*READERS, BARE):
        mine = [s for s in starts if s.reader == reader]
        if not mine:
            continue
        cold = [s.cold_start_s for s in mine]
        warm = [s.rss_warm_mb for s in mine]
        first = statistics.median(s.rss_first_mb for s in mine)
        cpu = statistics.median(s.cpu_s for s in mine)
        medians[reader] = (statistics.median(cold), statistics.median(warm))
        heavy = ", ".join(sorted({m for s in mine for m in s.heavy})) or "none"
        lines.append(
            f"{reader:<8} {medians[reader][0]:6.2f} ({min(cold):.2f}-{max(cold):.2f}){'':<10} "
            f"{cpu:5.2f}   {first:8.1f}{'':<6} {medians[reader][1]:7.1f} "
            f"({min(warm):.1f}-{max(warm):.1f}){'':<6} {heavy}"
        )
    for reader in ("mlflow", BARE):
        if "lean" in medians and reader in medians:
            lines.append(
                f"ratio lean/{reader}: cold start {medians['lean'][0] / medians[reader][0]:.2f}x, "
                f"RSS {medians['lean'][1] / medians[reader][1]:.2f}x"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="a store holding the model (default: --smoke's)")
    parser.add_argument("--version", default="1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="predictions before RSS")
    parser.add_argument(
        "--readers",
        default=",".join((*READERS, BARE)),
        help=f"which to start, among {', '.join((*READERS, BARE))}",
    )
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SENTIMENT_DATA", "")))
    parser.add_argument("--smoke", action="store_true", help="train a small model; 1 round")
    args = parser.parse_args(argv)
    readers = [r for r in args.readers.split(",") if r]
    with tempfile.TemporaryDirectory(prefix="sentiment-cold-") as tmp:
        workdir = Path(tmp)
        uri = args.tracking_uri
        rounds, requests = args.rounds, args.requests
        if args.smoke or not uri:
            data = args.data if args.data.is_file() else DEFAULT_DATA
            uri = train_small(spread_sample(read_reviews(data)), workdir)
            rounds, requests = (1, 20) if args.smoke else (rounds, requests)
        starts: list[Start] = []
        for round_ in range(rounds):
            order = readers if round_ % 2 == 0 else list(reversed(readers))
            for reader in order:
                start = start_once(uri, args.version, reader, requests, workdir)
                starts.append(start)
                print(
                    f"round {round_ + 1} {reader:<7} cold start {start.cold_start_s:5.2f} s "
                    f"({start.cpu_s:4.2f} s CPU), "
                    f"RSS {start.rss_first_mb:6.1f} MB -> {start.rss_warm_mb:6.1f} MB "
                    f"after {requests} predictions",
                    flush=True,
                )
        print(summary(starts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

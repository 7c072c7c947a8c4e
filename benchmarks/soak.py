"""Soak test: the API under steady load for minutes; errors and resident-memory growth.

Starts the API (`uvicorn sentiment.entrypoints.api:app`, one worker) on a free loopback port and
drives it with wrk at a fixed concurrency for N minutes, rotating through single predictions,
batches of 8 reviews and MLflow-style /invocations. Meanwhile the server's resident memory (VmRSS)
is sampled; growth is measured after a warm-up, from the median of the first samples to the
median of the last ones. Printed: requests, requests/s, p50/p99 latency, every status seen,
socket errors and timeouts, server log errors, and the memory samples.

Targets: 0 errors (any status other than 200, any socket error or timeout, any error line in the
server log) and memory growth under 10%. Exit status 1 when a target is missed.

    python benchmarks/soak.py                      # 5 minutes at concurrency 64 (small model)
    python benchmarks/soak.py --minutes 30 --tracking-uri sqlite:////path/mlflow.db
    python benchmarks/soak.py --smoke              # a few seconds (CI): errors only

Needs `wrk` on PATH (`apt-get install -y wrk`) and the IMDB train.csv (`--data`, default
`../shared/data/imdb/train.csv`) to train the small model and pick the reviews it sends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_DATA,
    clean_env,
    free_port,
    read_reviews,
    rss_mb,
    stop_group,
    train_small,
)

MEMORY_GROWTH_TARGET = 0.10

LUA = r"""
local paths = {%(paths)s}
local bodies = {%(bodies)s}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  n = 0
end

function request()
  n = n + 1
  local k = (n %% #paths) + 1
  return wrk.format("POST", paths[k], {["Content-Type"] = "application/json"}, bodies[k])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%%d": %%d', status, count))
  end
  io.write(string.format(
    'SOAK {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, "statuses": {%%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99), latency.max, table.concat(parts, ", ")))
end
"""


@dataclass
class Sample:
    at_s: float
    rss_mb: float


@dataclass
class Outcome:
    wrk: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)


def lua_string(value: str) -> str:
    """A Lua string literal of `value`'s UTF-8 bytes (decimal escapes outside printable ASCII)."""
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def request_mix(reviews: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    rng = random.Random(3)
    texts = [text[:2000] for text, _ in rng.sample(list(reviews), 64)]
    paths, bodies = [], []
    for i in range(24):
        if i % 3 == 0:
            paths.append("/predict/batch")
            bodies.append(json.dumps({"texts": texts[i : i + 8]}))
        elif i % 3 == 1:
            paths.append("/invocations")
            bodies.append(json.dumps({"inputs": texts[i : i + 2]}))
        else:
            paths.append("/predict")
            bodies.append(json.dumps({"text": texts[i]}))
    return paths, bodies


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{url}/ready", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {timeout_s} s:\n{log.read_text()}")


def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    reviews = read_reviews(args.data)
    env = clean_env()
    tracking_uri = args.tracking_uri or train_small(
        random.Random(1).sample(list(reviews), 300), workdir
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    server_env = {
        **env,
        "SENTIMENT_TRACKING_URI": tracking_uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "SENTIMENT_ARTIFACT_ROOT": str(workdir / "artifacts"),
        "SENTIMENT_RELOAD_INTERVAL_S": "0",
    }
    command = [sys.executable, "-m", "uvicorn", "sentiment.entrypoints.api:app"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    paths, bodies = request_mix(reviews)
    script = workdir / "soak.lua"
    script.write_text(
        LUA
        % {
            "paths": ", ".join(lua_string(p) for p in paths),
            "bodies": ", ".join(lua_string(b) for b in bodies),
        }
    )
    with log.open("wb") as sink:
        server = subprocess.Popen(
            command,
            env=server_env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_ready(url, server, log, timeout_s=300)
            seconds = args.seconds
            samples: list[Sample] = []
            stop = threading.Event()
            started = time.monotonic()

            def sample() -> None:
                while not stop.wait(args.sample_every_s):
                    samples.append(Sample(time.monotonic() - started, rss_mb(server.pid)))

            samples.append(Sample(0.0, rss_mb(server.pid)))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            wrk = subprocess.run(
                [
                    "wrk",
                    "-t",
                    "2",
                    "-c",
                    str(args.concurrency),
                    "-d",
                    f"{int(seconds)}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(script),
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
            if wrk.returncode != 0:
                raise RuntimeError(f"wrk failed: {wrk.stderr or wrk.stdout}")
            stop.set()
            sampler.join()
            samples.append(Sample(time.monotonic() - started, rss_mb(server.pid)))
        finally:
            stop_group(server, 30)
    line = next(x for x in wrk.stdout.splitlines() if x.startswith("SOAK "))
    errors = [
        x
        for x in log.read_text(errors="replace").splitlines()
        if '"level":"error"' in x or '"level":"critical"' in x or "Traceback" in x
    ]
    return Outcome(json.loads(line[len("SOAK ") :]), samples, errors)


def memory_growth(samples: Sequence[Sample], warmup_s: float) -> tuple[float, float, float]:
    """(baseline MB, final MB, growth): medians of the first and last 3 samples after warm-up."""
    steady = [s.rss_mb for s in samples if s.at_s >= warmup_s] or [s.rss_mb for s in samples]
    first, last = statistics.median(steady[:3]), statistics.median(steady[-3:])
    return first, last, (last - first) / first


def report(args: argparse.Namespace, outcome: Outcome) -> bool:
    w = outcome.wrk
    statuses = {int(k): int(v) for k, v in dict(w["statuses"]).items()}
    requests = int(w["requests"])
    duration_s = int(w["duration_us"]) / 1e6
    socket_errors = {k: int(w[k]) for k in ("connect", "read", "write", "timeout")}
    bad_statuses = sum(count for status, count in statuses.items() if status != 200)
    errors = bad_statuses + sum(socket_errors.values()) + len(outcome.log_errors)
    warmup_s = args.seconds * 0.2
    baseline, final, growth = memory_growth(outcome.samples, warmup_s)
    peak = max(s.rss_mb for s in outcome.samples)
    print(f"soak: {args.seconds:.0f} s at concurrency {args.concurrency}, one uvicorn worker")
    print(f"  requests        {requests} ({requests / duration_s:.1f}/s), statuses {statuses}")
    p50, p99, worst = (int(w[k]) / 1000 for k in ("p50_us", "p99_us", "max_us"))
    print(f"  latency         p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms")
    print(f"  socket errors   {socket_errors}")
    print(f"  log errors      {len(outcome.log_errors)}")
    for line in outcome.log_errors[:5]:
        print(f"    {line[:200]}")
    print(f"  errors          {errors} (target 0)")
    rss = ", ".join(f"{s.at_s:.0f}s:{s.rss_mb:.1f}" for s in outcome.samples)
    print(f"  RSS MB          {rss}")
    print(
        f"  memory          {baseline:.1f} MB after warm-up ({warmup_s:.0f} s) -> {final:.1f} MB "
        f"at the end, peak {peak:.1f} MB: growth {growth * 100:+.1f}% (target < "
        f"{MEMORY_GROWTH_TARGET * 100:.0f}%{', not judged in smoke mode' if args.smoke else ''})"
    )
    ok = errors == 0 and (args.smoke or growth < MEMORY_GROWTH_TARGET)
    print(f"  result          {'PASS' if ok else 'FAIL'}")
    return ok


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="a few seconds, errors only")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--tracking-uri", help="serve this store's model instead of training one")
    args = parser.parse_args(argv)
    args.seconds = 8.0 if args.smoke else args.minutes * 60.0
    if args.smoke:
        args.concurrency = min(args.concurrency, 16)
    args.sample_every_s = 0.5 if args.smoke else 5.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("soak: needs wrk on PATH (apt-get install -y wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sentiment-soak-") as tmp:
        outcome = run(args, Path(tmp))
    return 0 if report(args, outcome) else 1


if __name__ == "__main__":
    sys.exit(main())

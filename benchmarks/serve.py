"""Serving benchmark: this API next to `mlflow models serve`, same registered version, same run.

For each worker count (`--workers 1,2`), both servers are started on free loopback ports with
that many workers (ours: `python -m sentiment.entrypoints.serve --workers N`; MLflow:
`mlflow models serve -w N`) and driven by the same load generator (wrk, from Debian's `wrk`
package, one thread) with the same ~1,000-character review. Scenarios: `single` (one review per
`/predict`, at each `--concurrency`, default 16 and 64) and `batch` (100 reviews per
`/predict/batch`, MLflow's `/invocations`, at `--batch-concurrency`). Rounds alternate the order
of the servers so that drift on a shared machine hits both. Printed per scenario and
concurrency: requests/s, p50 and p99 latency (median over rounds, with the spread), reviews/s,
the ratio sentiment / mlflow against the targets, and wrk's own CPU use (a load generator near
one full core would be the bottleneck); then cold start (process start to the first 200 on a
prediction), resident memory per worker, the ceiling of wrk against a constant reply (our
`/health`), and the machine's load average.

    # against a registered model (e.g. trained on the full IMDB data)
    python benchmarks/serve.py --tracking-uri sqlite:////path/to/mlflow.db [--version 3] \
        --workers 1,2 --rounds 3 --duration 10
    # short smoke run (CI): trains a small model on 300 sampled reviews first
    python benchmarks/serve.py --smoke

Needs `wrk` on PATH (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
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

OURS, MLFLOW = "sentiment", "mlflow"


@dataclass(frozen=True)
class Scenario:
    name: str
    texts: int  # reviews per request
    ours: tuple[str, bytes]  # path, body
    mlflow: tuple[str, bytes]


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int  # non-2xx responses and socket errors
    wrk_cpu: float = float("nan")  # wrk's CPU seconds per wall second (1.0: one full core)
    # The server's CPU time (all its processes) per request answered: unlike req/s, hardly
    # changed by other jobs on a shared machine.
    cpu_ms_per_request: float = float("nan")


@dataclass
class Row:
    workers: int
    scenario: str
    concurrency: int
    server: str
    rounds: list[WrkResult] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(r, attribute) for r in self.rounds))

    def spread(self, attribute: str) -> tuple[float, float]:
        values = [getattr(r, attribute) for r in self.rounds]
        return min(values), max(values)


# -- servers ---------------------------------------------------------------------------------


class Server:
    """A server process group; knows its cold start and its worker's resident memory."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_handle = log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            list(args),
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.cold_start_s = float("nan")

    def wait_first_prediction(self, url: str, body: bytes, timeout_s: float = 300.0) -> float:
        while time.perf_counter() - self.started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if post(url, body) == 200:
                    self.cold_start_s = time.perf_counter() - self.started
                    return self.cold_start_s
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer in {timeout_s} s:\n{self.log.read_text()}")

    def worker_rss_mb(self) -> list[float]:
        """RSS of each serving process: the leaves of the process tree (the workers, spawned or
        forked, of a multi-worker server; mlflow's uvicorn under `mlflow models serve`), not
        multiprocessing's resource tracker; the process itself when it has no children."""
        workers = [
            pid
            for pid in _descendants(self.process.pid)
            if not _children(pid) and b"resource_tracker" not in _cmdline(pid)
        ]
        return [rss_mb(pid) for pid in workers or [self.process.pid]]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server and all its processes so far."""
        total = 0.0
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                total += cpu_seconds(pid)
        return total

    def stop(self) -> None:
        stop_group(self.process, 20)
        with contextlib.suppress(ProcessLookupError):  # whatever of the group outlived its leader
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_handle.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def server_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    env = clean_env()
    bin_dir = str(Path(sys.executable).parent)  # mlflow shells out to `uvicorn` on PATH
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.update(extra)
    return env


def start_ours(tracking_uri: str, version: str, workers: int, workdir: Path) -> tuple[Server, str]:
    port = free_port()
    args = [sys.executable, "-m", "sentiment.entrypoints.serve", "--workers", str(workers)]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    env = server_env(
        tracking_uri,
        SENTIMENT_TRACKING_URI=tracking_uri,
        SENTIMENT_MODEL_VERSION=version,
        SENTIMENT_MODEL_NAME=MODEL_NAME,
        SENTIMENT_RELOAD_INTERVAL_S="0",  # the version is pinned: nothing to follow
    )
    log = workdir / f"sentiment-{workers}w.log"
    return Server(OURS, args, env, log), f"http://127.0.0.1:{port}"


def start_mlflow(
    tracking_uri: str, version: str, workers: int, workdir: Path
) -> tuple[Server, str]:
    port = free_port()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    args = [mlflow, "models", "serve", "-m", f"models:/{MODEL_NAME}/{version}"]
    args += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    log = workdir / f"mlflow-{workers}w.log"
    return Server(MLFLOW, args, server_env(tracking_uri), log), f"http://127.0.0.1:{port}"


# -- load ------------------------------------------------------------------------------------


def run_wrk(
    url: str, body: bytes | None, connections: int, seconds: float, workdir: Path
) -> WrkResult:
    """wrk with one thread; POSTs `body` as JSON (None: plain GETs). Also measures wrk's CPU."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    command += ["--timeout", "30s"]  # a slow answer is latency, not a failure
    if body is not None:
        body_file = workdir / f"body-{abs(hash(body))}.json"
        body_file.write_bytes(body)
        script = workdir / f"post-{abs(hash(body))}.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{body_file}", "rb")\n'
            'wrk.body = f:read("*a")\n'
            "f:close()\n"
        )
        command += ["-s", str(script)]
    command.append(url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(output)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.wrk_cpu = cpu / wall if wall > 0 else float("nan")
    return result


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> WrkResult:
    def latency(percentile: str) -> float:
        match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        failures += sum(int(g) for g in socket_errors.groups())
    return WrkResult(
        requests_per_s=float(rps.group(1)) if rps else 0.0,
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        requests=int(total.group(1)) if total else 0,
        failures=failures,
    )


# -- data and model --------------------------------------------------------------------------


def pick_review(reviews: Sequence[tuple[str, str]], chars: int = 1000) -> str:
    """The review closest to `chars` characters long (first one on ties)."""
    return min((text for text, _ in reviews), key=lambda t: abs(len(t) - chars))


def scenarios(review: str, batch_reviews: Sequence[str], names: Sequence[str]) -> list[Scenario]:
    single = Scenario(
        "single",
        1,
        ("/predict", json.dumps({"text": review}).encode()),
        ("/invocations", json.dumps({"inputs": [review]}).encode()),
    )
    batch = Scenario(
        f"batch{len(batch_reviews)}",
        len(batch_reviews),
        ("/predict/batch", json.dumps({"texts": list(batch_reviews)}).encode()),
        ("/invocations", json.dumps({"inputs": list(batch_reviews)}).encode()),
    )
    return [s for s in (single, batch) if s.name.rstrip("0123456789") in names]


# -- report ----------------------------------------------------------------------------------

# Targets of the performance issue: ours / mlflow, same worker count, same run.
TARGET_SINGLE_RPS, TARGET_SINGLE_P99, TARGET_BATCH_REVIEWS = 2.0, 0.5, 1.5


@dataclass
class ServerFacts:
    cold_start_s: float
    worker_rss_mb: list[float]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(
    rows: list[Row], facts: dict[tuple[int, str], ServerFacts], ceiling: dict[int, WrkResult]
) -> str:
    lines: list[str] = []
    by_key = {(r.workers, r.scenario, r.concurrency, r.server): r for r in rows}
    for workers in dict.fromkeys(r.workers for r in rows):
        lines.append(f"== {workers} worker(s) each")
        lines.append(
            f"{'scenario':<10}{'conc':>5}  {'server':<10}{'req/s':>9} {'(min-max)':<15}"
            f"{'p50 ms':>8}{'p99 ms':>9}{'reviews/s':>11}{'cpu ms/req':>11}{'fail':>6}"
            f"{'wrk cpu':>9}"
        )
        for scenario, concurrency in dict.fromkeys(
            (r.scenario, r.concurrency) for r in rows if r.workers == workers
        ):
            pair = [by_key[(workers, scenario, concurrency, s)] for s in (MLFLOW, OURS)]
            texts = int(re.sub(r"\D", "", scenario) or 1)
            for row in pair:
                low, high = row.spread("requests_per_s")
                lines.append(
                    f"{scenario:<10}{concurrency:>5}  {row.server:<10}"
                    f"{row.median('requests_per_s'):>9.1f} {f'({low:.0f}-{high:.0f})':<15}"
                    f"{row.median('p50_ms'):>8.2f}{row.median('p99_ms'):>9.2f}"
                    f"{row.median('requests_per_s') * texts:>11.0f}"
                    f"{row.median('cpu_ms_per_request'):>11.2f}"
                    f"{sum(r.failures for r in row.rounds):>6}"
                    f"{row.median('wrk_cpu') * 100:>8.0f}%"
                )
            theirs, ours = pair
            rps = ours.median("requests_per_s") / theirs.median("requests_per_s")
            p50 = ours.median("p50_ms") / theirs.median("p50_ms")
            p99 = ours.median("p99_ms") / theirs.median("p99_ms")
            cpu = ours.median("cpu_ms_per_request") / theirs.median("cpu_ms_per_request")
            if texts == 1:
                goal = (
                    f"target >= {TARGET_SINGLE_RPS:.1f}x: {verdict(rps >= TARGET_SINGLE_RPS)}; "
                    f"p99 <= {TARGET_SINGLE_P99:.1f}x: {verdict(p99 <= TARGET_SINGLE_P99)}"
                )
            else:
                goal = f"reviews/s target >= {TARGET_BATCH_REVIEWS:.1f}x: " + verdict(
                    rps >= TARGET_BATCH_REVIEWS
                )
            lines.append(
                f"{'':<10}{'':>5}  {'ratio':<10}{rps:>8.2f}x {'':<15}"
                f"{p50:>7.2f}x{p99:>8.2f}x{'':>11}{cpu:>10.2f}x   {goal}"
            )
        for name in (MLFLOW, OURS):
            fact = facts[(workers, name)]
            rss = ", ".join(f"{mb:.1f}" for mb in fact.worker_rss_mb)
            lines.append(
                f"{name:<10} cold start {fact.cold_start_s:6.2f} s   RSS per worker (MB): {rss}"
            )
        if workers in ceiling:
            c = ceiling[workers]
            lines.append(
                f"wrk ceiling: GET /health (constant reply) on sentiment: "
                f"{c.requests_per_s:.0f} req/s, wrk CPU {c.wrk_cpu * 100:.0f}% of a core"
            )
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tracking-uri", help="MLflow store with the registered model")
    parser.add_argument("--version", default="1", help="registered version to serve (both)")
    parser.add_argument("--data", type=Path, default=None, help="CSV with text,label columns")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--workers", default="1", help="comma-separated worker counts: 1,2")
    parser.add_argument("--concurrency", default="16,64", help="connections, single scenario")
    parser.add_argument("--batch-concurrency", default="8", help="connections, batch scenario")
    parser.add_argument("--scenarios", default="single,batch", help="single and/or batch")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--smoke", action="store_true", help="small model, short rounds (CI)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    if args.smoke:
        args.duration, args.rounds = 2.0, 1
        args.concurrency, args.batch_concurrency = "16", "4"
    data = args.data or Path(os.environ.get("SENTIMENT_TEST_DATA", str(DEFAULT_DATA)))
    reviews = read_reviews(data)
    review = pick_review(reviews)
    batch_reviews = [text for text, _ in reviews[:: max(1, len(reviews) // args.batch_size)]]
    chosen = scenarios(review, batch_reviews[: args.batch_size], args.scenarios.split(","))
    levels = {
        "single": [int(c) for c in args.concurrency.split(",")],
        "batch": [int(c) for c in args.batch_concurrency.split(",")],
    }
    worker_counts = [int(w) for w in args.workers.split(",")]
    loads = [os.getloadavg()]

    rows: dict[tuple[int, str, int, str], Row] = {}
    facts: dict[tuple[int, str], ServerFacts] = {}
    ceiling: dict[int, WrkResult] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        workdir = Path(tmp)
        tracking_uri = args.tracking_uri or train_small(spread_sample(reviews), workdir)
        print(f"model {MODEL_NAME} version {args.version} from {tracking_uri}")
        print(
            f"review: {len(review)} characters; rounds: {args.rounds} x {args.duration:.0f} s; "
            f"cores: {os.cpu_count()}; workers: {worker_counts}",
            flush=True,
        )
        for workers in worker_counts:
            with _servers() as servers:
                urls: dict[str, str] = {}
                first = chosen[0]
                for name, start, (path, body) in (
                    (MLFLOW, start_mlflow, first.mlflow),
                    (OURS, start_ours, first.ours),
                ):
                    servers[name], urls[name] = start(tracking_uri, args.version, workers, workdir)
                    if not args.smoke:  # one at a time: each cold start on a machine to itself
                        servers[name].wait_first_prediction(urls[name] + path, body)
                if args.smoke:  # both at once: shorter, but the cold starts share the cores
                    for name in (MLFLOW, OURS):
                        path, body = first.ours if name == OURS else first.mlflow
                        servers[name].wait_first_prediction(urls[name] + path, body)
                if workers > 1:  # every worker has loaded its model before the first round
                    for name in (MLFLOW, OURS):
                        _wait_all_workers(servers[name], urls[name], chosen[0], name)
                for scenario in chosen:  # warm up both
                    for name in (MLFLOW, OURS):
                        path, body = scenario.ours if name == OURS else scenario.mlflow
                        run_wrk(urls[name] + path, body, 4, 1, workdir)
                for round_number in range(args.rounds):
                    order = (MLFLOW, OURS) if round_number % 2 == 0 else (OURS, MLFLOW)
                    for scenario in chosen:
                        for concurrency in levels[scenario.name.rstrip("0123456789")]:
                            for name in order:
                                path, body = scenario.ours if name == OURS else scenario.mlflow
                                cpu_before = servers[name].cpu_seconds()
                                result = run_wrk(
                                    urls[name] + path, body, concurrency, args.duration, workdir
                                )
                                cpu = servers[name].cpu_seconds() - cpu_before
                                result.cpu_ms_per_request = cpu * 1000 / max(1, result.requests)
                                key = (workers, scenario.name, concurrency, name)
                                rows.setdefault(key, Row(*key)).rounds.append(result)
                    loads.append(os.getloadavg())
                ceiling[workers] = run_wrk(
                    urls[OURS] + "/health", None, max(levels["single"]), args.duration, workdir
                )
                for name in (MLFLOW, OURS):
                    facts[(workers, name)] = ServerFacts(
                        servers[name].cold_start_s, servers[name].worker_rss_mb()
                    )
    print(report(list(rows.values()), facts, ceiling))
    one_minute = [load[0] for load in loads]
    print(
        f"load average (1 min) during the run: {min(one_minute):.2f}-{max(one_minute):.2f} "
        f"on {os.cpu_count()} cores"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [
                        {
                            **{k: v for k, v in asdict(r).items() if k != "rounds"},
                            "rounds": [asdict(x) for x in r.rounds],
                        }
                        for r in rows.values()
                    ],
                    "servers": {f"{w}:{n}": asdict(f) for (w, n), f in facts.items()},
                    "ceiling": {str(w): asdict(c) for w, c in ceiling.items()},
                    "load_average": loads,
                    "review_chars": len(review),
                },
                indent=2,
            )
        )
    failures = sum(x.failures for r in rows.values() for x in r.rounds)
    return 1 if failures else 0


def _wait_all_workers(server: Server, url: str, scenario: Scenario, name: str) -> None:
    """Until a burst of fresh connections gets only 200s (every worker has its model)."""
    path, body = scenario.ours if name == OURS else scenario.mlflow
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline:
        if all(post(url + path, body) == 200 for _ in range(8)):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name}: not every worker answered in time:\n{server.log.read_text()}")


@contextlib.contextmanager
def _servers() -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


if __name__ == "__main__":
    sys.exit(main())

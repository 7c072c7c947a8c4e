"""Serving benchmark: this API next to `mlflow models serve`, same registered version, same run.

Both servers are started on free loopback ports with one worker each and driven by the same load
generator (wrk, from Debian's `wrk` package) with the same ~1,000-character review. Rounds
alternate between the servers so that drift on a shared machine hits both. Printed per scenario
and concurrency: requests/s, p50 and p99 latency (median over rounds, with the spread), reviews/s,
and the ratio sentiment / mlflow; then cold start (process start to first 200 on a prediction)
and resident memory of each worker.

    # against a registered model (e.g. trained on the full IMDB data)
    python benchmarks/serve.py --tracking-uri sqlite:////path/to/mlflow.db [--version 3]
    # short smoke run (CI): trains a small model on 300 sampled reviews first
    python benchmarks/serve.py --smoke

Needs `wrk` on PATH (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "imdb" / "train.csv"
MODEL_NAME = "SentimentAnalysisModel"
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


@dataclass
class Row:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(url: str, body: bytes, timeout: float = 5.0) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


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

    def worker_rss_mb(self) -> float:
        """RSS of the process that serves: the deepest descendant (mlflow's uvicorn child)."""
        pid = self.process.pid
        while children := _children(pid):
            pid = children[-1]
        return _rss_kb(pid) / 1024.0

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_handle.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def server_env(tracking_uri: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "MLFLOW_"))}
    bin_dir = str(Path(sys.executable).parent)  # mlflow shells out to `uvicorn` on PATH
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.update(extra)
    return env


def start_ours(tracking_uri: str, version: str, workdir: Path) -> tuple[Server, str]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "sentiment.entrypoints.api:app"]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    env = server_env(
        tracking_uri,
        SENTIMENT_TRACKING_URI=tracking_uri,
        SENTIMENT_MODEL_VERSION=version,
        SENTIMENT_MODEL_NAME=MODEL_NAME,
    )
    return Server(OURS, args, env, workdir / "sentiment.log"), f"http://127.0.0.1:{port}"


def start_mlflow(tracking_uri: str, version: str, workdir: Path) -> tuple[Server, str]:
    port = free_port()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    args = [mlflow, "models", "serve", "-m", f"models:/{MODEL_NAME}/{version}"]
    args += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    return Server(MLFLOW, args, server_env(tracking_uri), workdir / "mlflow.log"), (
        f"http://127.0.0.1:{port}"
    )


# -- load ------------------------------------------------------------------------------------


def run_wrk(url: str, body: bytes, connections: int, seconds: float, workdir: Path) -> WrkResult:
    body_file = workdir / f"body-{abs(hash(body))}.json"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body_file}", "rb")\n'
        'wrk.body = f:read("*a")\n'
        "f:close()\n"
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    command += ["--timeout", "30s"]  # a slow answer is latency, not a failure
    command += ["-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


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


def read_reviews(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def pick_review(reviews: Sequence[tuple[str, str]], chars: int = 1000) -> str:
    """The review closest to `chars` characters long (first one on ties)."""
    return min((text for text, _ in reviews), key=lambda t: abs(len(t) - chars))


def train_small(data: Path, workdir: Path) -> str:
    """Train a small model on 300 reviews into a fresh SQLite store; returns its URI."""
    reviews = read_reviews(data)
    sample = workdir / "sample.csv"
    step = max(1, len(reviews) // 300)
    with sample.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(reviews[::step][:300])
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    command = [sys.executable, "-m", "sentiment.entrypoints.train", "--data", str(sample)]
    command += ["-p", "n_features_log2=18", "--tracking-uri", uri, "--quiet"]
    command += ["--promotion-floor", "0"]  # the served version is pinned; crown it anyway
    env = server_env(uri, SENTIMENT_ARTIFACT_ROOT=str(workdir / "artifacts"))
    subprocess.run(command, env=env, cwd=workdir, check=True)
    return uri


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


def report(rows: list[Row], servers: dict[str, Server], rss: dict[str, float]) -> str:
    lines = [
        f"{'scenario':<10}{'conc':>5}  {'server':<10}{'req/s':>9} {'(min-max)':<15}"
        f"{'p50 ms':>8}{'p99 ms':>9}{'reviews/s':>11}{'fail':>6}",
    ]
    by_key = {(r.scenario, r.concurrency, r.server): r for r in rows}
    for scenario, concurrency in dict.fromkeys((r.scenario, r.concurrency) for r in rows):
        pair = [by_key[(scenario, concurrency, s)] for s in (MLFLOW, OURS)]
        for row in pair:
            low, high = row.spread("requests_per_s")
            texts = int(re.sub(r"\D", "", row.scenario) or 1)
            lines.append(
                f"{scenario:<10}{concurrency:>5}  {row.server:<10}"
                f"{row.median('requests_per_s'):>9.1f} {f'({low:.0f}-{high:.0f})':<15}"
                f"{row.median('p50_ms'):>8.2f}{row.median('p99_ms'):>9.2f}"
                f"{row.median('requests_per_s') * texts:>11.0f}"
                f"{sum(r.failures for r in row.rounds):>6}"
            )
        theirs, ours = pair
        lines.append(
            f"{'':<10}{'':>5}  {'ratio':<10}"
            f"{ours.median('requests_per_s') / theirs.median('requests_per_s'):>8.2f}x {'':<15}"
            f"{ours.median('p50_ms') / theirs.median('p50_ms'):>7.2f}x"
            f"{ours.median('p99_ms') / theirs.median('p99_ms'):>8.2f}x"
        )
    lines.append("")
    for name in (MLFLOW, OURS):
        lines.append(
            f"{name:<10} cold start {servers[name].cold_start_s:6.2f} s   "
            f"worker RSS {rss[name]:7.1f} MB"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tracking-uri", help="MLflow store with the registered model")
    parser.add_argument("--version", default="1", help="registered version to serve (both)")
    parser.add_argument("--data", type=Path, default=None, help="CSV with text,label columns")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated connections")
    parser.add_argument("--scenarios", default="single", help="single and/or batch")
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
    data = args.data or Path(os.environ.get("SENTIMENT_TEST_DATA", str(DEFAULT_DATA)))
    reviews = read_reviews(data)
    review = pick_review(reviews)
    batch_reviews = [text for text, _ in reviews[:: max(1, len(reviews) // args.batch_size)]]
    chosen = scenarios(review, batch_reviews[: args.batch_size], args.scenarios.split(","))
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, _servers() as servers:
        workdir = Path(tmp)
        tracking_uri = args.tracking_uri or train_small(data, workdir)
        print(f"model {MODEL_NAME} version {args.version} from {tracking_uri}")
        print(f"review: {len(review)} characters; rounds: {args.rounds} x {args.duration:.0f} s")
        urls: dict[str, str] = {}
        first = chosen[0]
        for name, start, (path, body) in (
            (MLFLOW, start_mlflow, first.mlflow),
            (OURS, start_ours, first.ours),
        ):
            servers[name], urls[name] = start(tracking_uri, args.version, workdir)
            servers[name].wait_first_prediction(urls[name] + path, body)
        for scenario in chosen:  # warm up both
            for name in (MLFLOW, OURS):
                path, body = scenario.ours if name == OURS else scenario.mlflow
                run_wrk(urls[name] + path, body, 4, 1, workdir)

        rows = {
            (s.name, c, n): Row(s.name, c, n)
            for s in chosen
            for c in concurrencies
            for n in (MLFLOW, OURS)
        }
        for round_number in range(args.rounds):
            order = (MLFLOW, OURS) if round_number % 2 == 0 else (OURS, MLFLOW)
            for scenario in chosen:
                for concurrency in concurrencies:
                    for name in order:
                        path, body = scenario.ours if name == OURS else scenario.mlflow
                        result = run_wrk(
                            urls[name] + path, body, concurrency, args.duration, workdir
                        )
                        rows[(scenario.name, concurrency, name)].rounds.append(result)
        rss = {name: servers[name].worker_rss_mb() for name in (MLFLOW, OURS)}
        print(report(list(rows.values()), servers, rss))
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
                        "cold_start_s": {n: s.cold_start_s for n, s in servers.items()},
                        "worker_rss_mb": rss,
                        "review_chars": len(review),
                    },
                    indent=2,
                )
            )
        failures = sum(x.failures for r in rows.values() for x in r.rounds)
    return 1 if failures else 0


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

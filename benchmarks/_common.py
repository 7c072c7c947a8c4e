"""Helpers shared by the benchmark scripts: free ports, HTTP POSTs over the loopback, /proc
figures of a process, stopping a server's process group, and a small trained model.

Not a script. The scripts run as `python benchmarks/X.py`, which puts this folder on `sys.path`,
and import it as `from _common import ...`.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "imdb" / "train.csv"
MODEL_NAME = "SentimentAnalysisModel"


def clean_env() -> dict[str, str]:
    """This process's environment without any `SENTIMENT_*` or `MLFLOW_*` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SENTIMENT_", "MLFLOW_"))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(url: str, body: bytes, timeout: float = 5.0) -> int:
    """POST `body` as JSON; the response's status (an HTTP error's too), once its body is read."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS) in MB; NaN when it has none (a zombie)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_group(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM to the process group of `process` (started with `start_new_session=True`), and
    SIGKILL when it has not exited within `timeout_s`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout_s)


def read_reviews(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV with `text` and `label` columns."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def write_reviews(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """Write (text, label) rows as a CSV with a `text,label` header; returns `path`."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def spread_sample(reviews: Sequence[tuple[str, str]], n: int = 300) -> list[tuple[str, str]]:
    """At most `n` rows taken at an even step through `reviews`, from the first."""
    return list(reviews[:: max(1, len(reviews) // n)][:n])


def train_small(sample: Sequence[tuple[str, str]], workdir: Path) -> str:
    """Train a small model (2^18 hashed features) on `sample` into a fresh SQLite store in
    `workdir`, crowned whatever it scores; returns the store's URI."""
    sample_csv = write_reviews(workdir / "sample.csv", sample)
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    command = [sys.executable, "-m", "sentiment.entrypoints.train", "--data", str(sample_csv)]
    command += ["-p", "n_features_log2=18", "--tracking-uri", uri, "--quiet"]
    command += ["--promotion-floor", "0"]  # the benchmarks pin the version; crown it anyway
    env = clean_env()
    env["SENTIMENT_ARTIFACT_ROOT"] = str(workdir / "artifacts")
    subprocess.run(command, env=env, cwd=workdir, check=True)
    return uri

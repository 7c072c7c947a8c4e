"""The serve entrypoint's sockets: IPPROTO_TCP (so TCP_NODELAY on every accepted connection),
one socket per worker with SO_REUSEPORT, and its options."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import multiprocessing
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from sentiment.entrypoints.serve import (
    STARTUP_FAILURE,
    ServeOptions,
    Supervisor,
    _may_preload,
    default_workers,
    listening_sockets,
    main,
    parse_args,
    run_forked_worker,
    serve_options,
)
from sentiment.entrypoints.settings import Settings
from tests.support.data import REPO_ROOT
from tests.support.local_http import free_port
from tests.support.processes import wait_until_ready
from tests.support.serve_apps import NEVER_STARTS, SERVES


def nodelay_of_an_accepted_connection(listeners: list[socket.socket]) -> int:
    """Serve `listeners` with asyncio as uvicorn does (`loop.create_server(sock=...)`), connect
    to their port, and read TCP_NODELAY on the server's side of the accepted connection."""

    async def scenario() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        loop = asyncio.get_running_loop()
        servers = [await loop.create_server(Probe, sock=listener) for listener in listeners]
        host, port = listeners[0].getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(seen, 30)
        finally:
            writer.close()
            for server in servers:
                server.close()
                await server.wait_closed()

    return asyncio.run(scenario())


@pytest.mark.parametrize("workers", [1, 2])
def test_accepted_connections_get_tcp_nodelay(workers: int) -> None:
    sockets = listening_sockets("127.0.0.1", 0, workers)
    try:
        assert all(s.proto == socket.IPPROTO_TCP for s in sockets)
        # A keep-alive answer is not held back waiting for the client's delayed ACK.
        assert nodelay_of_an_accepted_connection(sockets) != 0
    finally:
        for sock in sockets:
            sock.close()


def test_several_workers_get_a_socket_each_on_one_port() -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here: the workers share one socket")
    sockets = listening_sockets("127.0.0.1", 0, 3)
    try:
        assert len(sockets) == 3
        assert len({s.getsockname()[1] for s in sockets}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            listening_sockets("127.0.0.1", taken.getsockname()[1], 2)


def test_the_port_of_a_server_running_with_several_workers_is_refused() -> None:
    """The same server started twice on one port: its SO_REUSEPORT sockets would have joined
    the first one's, and the kernel spread the connections over both servers (both seemed to
    run; half the clients got the old one). It is refused as a single worker's port is."""
    running = listening_sockets("127.0.0.1", 0, 2)
    port = running[0].getsockname()[1]
    try:
        for workers in (2, 1):
            with pytest.raises(OSError, match="in use"):
                listening_sockets("127.0.0.1", port, workers)
    finally:
        for sock in running:
            sock.close()


def test_nothing_joins_the_port_of_a_single_worker() -> None:
    """One worker's socket has no SO_REUSEPORT: another socket cannot bind beside it (and take
    a share of its connections), even one that sets SO_REUSEPORT itself."""
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    try:
        with socket.socket() as intruder:
            intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError, match="in use"):
                intruder.bind(sock.getsockname())
    finally:
        sock.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_restarted_server_takes_its_port_back_at_once(workers: int) -> None:
    """The server that stopped closed its connections first: they wait in TIME_WAIT for a
    minute, and its successor binds the port all the same."""
    first = listening_sockets("127.0.0.1", 0, workers)
    port = first[0].getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        ready, _, _ = select.select(first, [], [], 30)  # the socket the kernel gave it to
        accepted, _ = ready[0].accept()
        accepted.close()  # the server's side closes first: TIME_WAIT is on the server's port
        assert client.recv(1) == b""
    for sock in first:
        sock.close()
    again = listening_sockets("127.0.0.1", port, workers)
    for sock in again:
        sock.close()


def test_a_burst_of_connections_waits_for_a_busy_worker() -> None:
    """Connections that arrive while the worker is busy wait in the socket's queue; none is
    dropped (a connection the queue had no room for would not even connect)."""
    [listener] = listening_sockets("127.0.0.1", 0, 1)
    clients: list[socket.socket] = []
    try:
        for _ in range(100):  # nothing accepts them yet
            clients.append(socket.create_connection(listener.getsockname()[:2], timeout=5))
        listener.settimeout(5)
        for _ in clients:
            listener.accept()[0].close()
    finally:
        for client in clients:
            client.close()
        listener.close()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 here")
def test_a_server_on_every_ipv6_address_also_takes_ipv4_connections() -> None:
    try:
        sockets = listening_sockets("::", 0, 2)
    except OSError:
        pytest.skip("no IPv6 address to bind here")
    try:
        port = sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=30):
            pass
    finally:
        for sock in sockets:
            sock.close()


def test_preload_is_on_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args([]).preload is None  # then SENTIMENT_PRELOAD, else on
    assert parse_args(["--no-preload"]).preload is False
    assert ServeOptions(host="127.0.0.1", port=0, workers=2).preload is True
    monkeypatch.setenv("SENTIMENT_PRELOAD", "false")
    assert Settings().preload is False
    assert _may_preload(Settings(), None) is False
    assert _may_preload(Settings(), True) is True  # --preload wins over the environment
    # MLflow's own client must not cross a fork: with it, the workers are spawned.
    monkeypatch.setenv("SENTIMENT_SERVING_READER", "mlflow")
    assert _may_preload(Settings(registry="mlflow"), True) is False
    assert _may_preload(Settings(registry="memory"), True) is True
    monkeypatch.setenv("SENTIMENT_SERVING_READER", "lean")
    assert _may_preload(Settings(registry="mlflow"), True) is True  # the lean reader forks well


def test_the_log_says_when_mlflow_s_own_reader_turns_the_preload_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SENTIMENT_SERVING_READER", "mlflow")
    serve_log, recorded = logging.getLogger("sentiment.serve"), Recorded()
    level = serve_log.level
    serve_log.addHandler(recorded)
    serve_log.setLevel(logging.INFO)
    try:
        assert _may_preload(Settings(registry="mlflow"), True) is False
        assert _may_preload(Settings(registry="mlflow"), False) is False  # off anyway: no word
    finally:
        serve_log.removeHandler(recorded)
        serve_log.setLevel(level)
    assert [r.getMessage() for r in recorded.records] == [
        "SENTIMENT_SERVING_READER=mlflow: no preload, the workers are spawned"
    ]


def test_options_and_the_default_worker_count() -> None:
    args = parse_args(["--port", "9000", "--workers", "3", "--no-access-log"])
    assert (args.host, args.port, args.workers, args.no_access_log) == (
        "127.0.0.1",
        9000,
        3,
        True,
    )
    assert parse_args([]).workers is None  # then SENTIMENT_WORKERS, else the cores
    assert default_workers() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_a_process_allowed_one_core_serves_with_one_worker() -> None:
    """As in a container limited to one CPU (cpuset), whatever the machine has."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from sentiment.entrypoints.serve import default_workers; print(default_workers())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "1\n"


def test_the_launcher_serves_with_the_flags_given() -> None:
    flags = ["--host", "0.0.0.0", "--port", "9000", "--workers", "3", "--no-access-log"]
    flags += ["--log-level", "warning", "--http", "h11", "--loop", "asyncio", "--no-preload"]
    args = parse_args(flags)
    assert serve_options(args, Settings(workers=5)) == ServeOptions(
        host="0.0.0.0",
        port=9000,
        workers=3,  # --workers wins over SENTIMENT_WORKERS
        access_log=False,
        log_level="warning",
        http="h11",
        loop="asyncio",
        preload=False,
    )


def test_without_flags_the_launcher_serves_a_worker_per_core_with_the_defaults() -> None:
    assert serve_options(parse_args([]), Settings(workers=None, preload=True)) == ServeOptions(
        host="127.0.0.1",
        port=8000,
        workers=default_workers(),
        access_log=True,
        log_level="info",
        http="auto",
        loop="auto",
        preload=True,
    )


def test_sentiment_workers_sets_the_worker_count_without_the_flag() -> None:
    assert serve_options(parse_args([]), Settings(workers=1)).workers == 1
    assert serve_options(parse_args([]), Settings(workers=7)).workers == 7
    assert serve_options(parse_args(["--workers", "1"]), Settings(workers=7)).workers == 1


# -- the supervisor's restart policy (spawned workers: targets are module-level functions) ------


def crash_at_once(sock: socket.socket, options: ServeOptions) -> None:
    """Records its start (`worker-name socket-inode monotonic-time`), then fails."""
    with Path(os.environ["SUPERVISOR_TEST_STARTS"]).open("a") as starts:
        name = multiprocessing.current_process().name
        starts.write(f"{name} {os.fstat(sock.fileno()).st_ino} {time.monotonic()}\n")
    sys.exit(3)  # as a worker whose app fails to import


def crash_at_once_after_a_long_first_run(sock: socket.socket, options: ServeOptions) -> None:
    """The slot's first worker serves for 3 s before it fails; every later one fails at once."""
    first = not Path(os.environ["SUPERVISOR_TEST_STARTS"]).exists()
    if first:
        time.sleep(3)
    crash_at_once(sock, options)


def record_and_sleep(sock: socket.socket, options: ServeOptions) -> None:
    with Path(os.environ["SUPERVISOR_TEST_PIDS"]).open("a") as pids:
        pids.write(f"{os.getpid()}\n")
    time.sleep(120)


PRELOADED: dict[str, str] = {}  # what a supervisor loaded before it started its workers


def serve_until_sigterm(sock: socket.socket, options: ServeOptions) -> None:
    """Records its start with the model it found loaded, and on SIGTERM (what lets uvicorn
    finish the requests in flight) takes 1 s to finish, records that it stopped, and exits 0."""
    events = Path(os.environ["SUPERVISOR_TEST_EVENTS"])

    def stop(signum: int, frame: FrameType | None) -> None:
        time.sleep(1)  # a request in flight
        with events.open("a") as out:
            out.write(f"stopped {os.getpid()}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    with events.open("a") as out:
        name = multiprocessing.current_process().name
        out.write(f"started {os.getpid()} {PRELOADED.get('model', 'none')} {name}\n")
    time.sleep(120)


def ignore_sigterm(sock: socket.socket, options: ServeOptions) -> None:
    """A worker that does not stop on SIGTERM (stuck, say); records its pid once it ignores it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with Path(os.environ["SUPERVISOR_TEST_PIDS"]).open("a") as pids:
        pids.write(f"{os.getpid()}\n")
    time.sleep(120)


def started_workers(starts: Path) -> list[tuple[str, int]]:
    """(worker name, inode of its socket) for each worker `crash_at_once` ran in."""
    lines = starts.read_text().splitlines()
    return [(name, int(inode)) for name, inode, _ in map(str.split, lines)]


def start_times(starts: Path) -> list[float]:
    """When each worker `crash_at_once` ran in started (`time.monotonic()`, system-wide)."""
    return [float(line.split()[2]) for line in starts.read_text().splitlines()]


def run_beside(
    operator: Callable[[], None], supervisor: Supervisor, sockets: list[socket.socket]
) -> int:
    """Run `supervisor` in the main thread, as `serve` does, with `operator` acting on it from a
    thread; then close the sockets and restore the signal handlers the supervisor installed."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=operator)
    thread.start()
    try:
        return supervisor.run()
    finally:
        thread.join(timeout=60)
        for sock in sockets:
            sock.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class Recorded(logging.Handler):
    """The records of the supervisor's log (whether or not "sentiment" propagates to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_crash_loop_stops_the_supervisor_with_the_workers_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISOR_TEST_STARTS", str(tmp_path / "starts"))
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    serve_log, recorded = logging.getLogger("sentiment.serve"), Recorded()
    level = serve_log.level
    serve_log.addHandler(recorded)
    serve_log.setLevel(logging.INFO)
    try:
        code = Supervisor([sock], options, target=crash_at_once, restart_delay_s=0.01).run()
    finally:
        serve_log.removeHandler(recorded)
        serve_log.setLevel(level)
        sock.close()
    assert code == 3
    assert len(started_workers(tmp_path / "starts")) == 5  # 5 quick failures in a row: stop
    said = [(r.levelname, re.sub(r"pid \d+", "pid N", r.getMessage())) for r in recorded.records]
    assert said.count(("INFO", "started worker 0 (pid N)")) == 5
    assert [(kind, m) for kind, m in said if "exited" in m] == [
        *[("WARNING", "worker 0 (pid N) exited with 3; starting another")] * 4,
        (
            "ERROR",
            "worker 0 (pid N) exited with 3, the 5th time in a row within 10 s of its start; "
            "stopping",
        ),
    ]


def start_and_return(sock: socket.socket, options: ServeOptions) -> None:
    """Returns at once, so the worker exits 0 (as a worker whose startup failed did under uvicorn
    before 0.50, until `run_worker` raised `STARTUP_FAILURE` for it)."""


def test_a_crash_loop_of_workers_that_exit_0_is_no_success() -> None:
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    supervisor = Supervisor(
        [sock], options, target=start_and_return, restart_delay_s=0.01, start_method="fork"
    )
    try:
        assert supervisor.run() == 1  # a service manager must see the failure
    finally:
        sock.close()


def test_the_restart_delay_after_each_quick_failure_doubles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash loop backs off: 0.4 s before the first restart, then 0.8, 1.6 and 3.2 s (lower
    bounds only: a loaded machine can only make them longer)."""
    monkeypatch.setenv("SUPERVISOR_TEST_STARTS", str(tmp_path / "starts"))
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    supervisor = Supervisor(
        [sock], options, target=crash_at_once, restart_delay_s=0.4, start_method="fork"
    )
    try:
        assert supervisor.run() == 3
    finally:
        sock.close()
    starts = start_times(tmp_path / "starts")
    assert len(starts) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap >= 0.4 * 2**i for i, gap in enumerate(gaps)), gaps


def test_a_failure_after_the_crash_window_starts_the_count_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that served past the crash window (2 s here) and then failed is no quick failure:
    the crash loop that follows is stopped after its own 5 quick failures, 6 starts in all."""
    monkeypatch.setenv("SUPERVISOR_TEST_STARTS", str(tmp_path / "starts"))
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    supervisor = Supervisor(
        [sock],
        options,
        target=crash_at_once_after_a_long_first_run,
        restart_delay_s=0.01,
        start_method="fork",
        crash_window_s=2.0,
    )
    try:
        assert supervisor.run() == 3
    finally:
        sock.close()
    assert len(started_workers(tmp_path / "starts")) == 6


def test_a_single_worker_whose_app_fails_to_start_exits_3() -> None:
    """As under `uvicorn.run`: a service manager sees a failed start, not a clean stop. (uvicorn
    before 0.50 returns from `Server.run` after a failed startup: the server exited 0.)"""
    code = (
        "import sys; from sentiment.entrypoints.serve import ServeOptions, serve; "
        "sys.exit(serve(ServeOptions(host='127.0.0.1', port=0, workers=1, "
        f"app={NEVER_STARTS!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert done.returncode == STARTUP_FAILURE == 3, done.stderr
    lines = done.stderr.splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]  # the JSON log
    failed = [r for r in records if r["msg"] == "Application startup failed. Exiting."]
    assert len(failed) == 1, done.stderr  # one worker, in this process: no restart
    assert sum("this app never starts" in r["msg"] for r in records) == 1  # the app's error


def test_a_single_worker_stopped_with_ctrl_c_exits_0_without_a_traceback(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C in a terminal): uvicorn finishes what is in flight and shuts the app down;
    then the server exits 0, as under `uvicorn.run`, not with a KeyboardInterrupt traceback."""
    port = free_port()
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from sentiment.entrypoints.serve import ServeOptions, serve; "
        f"sys.exit(serve(ServeOptions(host='127.0.0.1', port={port}, workers=1, app={SERVES!r})))"
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-c", code], stdout=sink, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
        try:
            wait_until_ready(server, f"http://127.0.0.1:{port}/", log, timeout_s=120)
            server.send_signal(signal.SIGINT)
            assert server.wait(timeout=60) == 0, log.read_text()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    said = log.read_text()
    assert "Application shutdown complete." in said
    assert "Traceback" not in said, said


def test_workers_whose_app_fails_to_start_stop_the_supervisor_with_3() -> None:
    """Real uvicorn workers (forked, as after a preload) whose startup fails: each exits 3, and
    after 5 in a row the supervisor stops with 3, not with the 1 of a worker that exited 0."""
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1, app=NEVER_STARTS)
    supervisor = Supervisor(
        [sock], options, target=run_forked_worker, restart_delay_s=0.01, start_method="fork"
    )
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert supervisor.run() == STARTUP_FAILURE
    finally:
        sock.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("shared", [False, True])
def test_each_worker_and_its_replacements_serve_on_the_socket_of_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """A socket per worker (SO_REUSEPORT): worker N and every worker that replaces it listen on
    socket N, with the connections queued on it. One shared socket: every worker listens on it."""
    monkeypatch.setenv("SUPERVISOR_TEST_STARTS", str(tmp_path / "starts"))
    sockets = listening_sockets("127.0.0.1", 0, 1 if shared else 2)
    inodes = [os.fstat(sock.fileno()).st_ino for sock in sockets]
    options = ServeOptions(host="127.0.0.1", port=0, workers=2)
    supervisor = Supervisor(
        sockets, options, target=crash_at_once, restart_delay_s=0.01, start_method="fork"
    )
    try:
        assert supervisor.run() == 3
    finally:
        for sock in sockets:
            sock.close()
    starts = started_workers(tmp_path / "starts")
    names = [name for name, _ in starts]
    assert max(names.count(name) for name in names) == 5  # the slot that failed 5 times first
    assert {name: {i for n, i in starts if n == name} for name, _ in starts} == {
        "sentiment-worker-0": {inodes[0]},
        "sentiment-worker-1": {inodes[0] if shared else inodes[1]},
    }


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_a_killed_worker_is_replaced_even_right_after_its_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    """SIGKILL from outside (an OOM kill, an operator) three times in a row is not a crash loop:
    the slot gets a new worker each time (spawned, or forked after a preload), and the supervisor
    runs until SIGTERM, then exits 0."""
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("SUPERVISOR_TEST_PIDS", str(pids_file))

    def pids() -> list[int]:
        return [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []

    def wait_for(count: int, deadline: float) -> None:
        while len(pids()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    seen: list[int] = []

    def operator() -> None:
        deadline = time.monotonic() + 60
        for round_ in range(1, 4):
            wait_for(round_, deadline)
            with contextlib.suppress(IndexError, ProcessLookupError):
                os.kill(pids()[-1], signal.SIGKILL)
        wait_for(4, deadline)
        seen.extend(pids())
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's handler: stop

    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    supervisor = Supervisor(
        [sock], options, target=record_and_sleep, restart_delay_s=0.01, start_method=start_method
    )
    code = run_beside(operator, supervisor, [sock])
    assert code == 0
    assert len(set(seen)) == 4, seen  # the first worker and three replacements
    assert not any(Path(f"/proc/{pid}").exists() for pid in seen)


@pytest.mark.parametrize(("start_method", "found"), [("spawn", "none"), ("fork", "version-1")])
def test_the_supervisor_stops_its_workers_with_sigterm_so_they_finish_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str, found: str
) -> None:
    """The second worker killed while the first serves on: it is replaced. Then SIGTERM to the
    supervisor: each worker gets SIGTERM, stops as it pleases (uvicorn drains its requests), and
    the supervisor exits 0 once they are gone (a SIGKILL 30 s later is only for a worker that
    does not stop). Forked workers start with what the supervisor loaded (the preload); spawned
    ones in a fresh interpreter, that loads on its own."""
    events = tmp_path / "events"
    monkeypatch.setenv("SUPERVISOR_TEST_EVENTS", str(events))
    monkeypatch.setitem(PRELOADED, "model", "version-1")

    def said(word: str) -> set[str]:
        lines = events.read_text().splitlines() if events.exists() else []
        return {line.split()[1] for line in lines if line.startswith(word + " ")}

    def wait_for(starts: int, deadline: float) -> None:
        while len(said("started")) < starts and time.monotonic() < deadline:
            time.sleep(0.05)

    killed: list[str] = []

    def operator() -> None:
        deadline = time.monotonic() + 60
        wait_for(2, deadline)
        lines = events.read_text().splitlines()
        killed.extend(line.split()[1] for line in lines if line.endswith(" sentiment-worker-1"))
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(killed[0]), signal.SIGKILL)
        wait_for(3, deadline)
        os.kill(os.getpid(), signal.SIGTERM)

    sockets = listening_sockets("127.0.0.1", 0, 2)
    options = ServeOptions(host="127.0.0.1", port=0, workers=2)
    supervisor = Supervisor(sockets, options, target=serve_until_sigterm, start_method=start_method)
    code = run_beside(operator, supervisor, sockets)
    assert code == 0
    assert len(said("started")) == 3  # the second worker was replaced
    assert said("stopped") == said("started") - set(killed)  # asked, and had stopped
    assert {line.split()[2] for line in events.read_text().splitlines() if "started" in line} == {
        found
    }


def test_a_worker_that_ignores_sigterm_is_killed_after_the_stop_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM to the supervisor: a worker still running after the stop timeout (0.5 s here,
    30 s by default) is killed, and reaped before the supervisor exits 0 (no zombie left)."""
    pids_file = tmp_path / "pids"
    monkeypatch.setenv("SUPERVISOR_TEST_PIDS", str(pids_file))

    def operator() -> None:
        deadline = time.monotonic() + 60
        while not (pids_file.exists() and pids_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    supervisor = Supervisor(
        [sock], options, target=ignore_sigterm, start_method="fork", stop_timeout_s=0.5
    )
    code = run_beside(operator, supervisor, [sock])
    assert code == 0
    [pid] = [int(p) for p in pids_file.read_text().split()]
    assert not Path(f"/proc/{pid}").exists()


# -- what `main` refuses before it binds anything ------------------------------------------------


def test_zero_workers_is_refused_not_taken_for_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--port", "0", "--workers", "0"]) == 2
    assert capsys.readouterr().err == "error: --workers must be at least 1\n"


def test_an_invalid_setting_is_one_line_and_exit_2_as_in_the_other_clis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SENTIMENT_ADMIN_TOKEN", "short")
    assert main(["--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: invalid setting: admin_token (SENTIMENT_ADMIN_TOKEN): "
        "String should have at least 16 characters\n"
    )  # one line, no traceback, and not the token

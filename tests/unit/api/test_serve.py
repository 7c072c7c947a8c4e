"""The serve entrypoint's sockets: IPPROTO_TCP (so TCP_NODELAY on every accepted connection),
one socket per worker with SO_REUSEPORT, and its options."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from sentiment.entrypoints.serve import (
    ServeOptions,
    Supervisor,
    _may_preload,
    default_workers,
    listening_sockets,
    main,
    parse_args,
    serve_options,
)
from sentiment.entrypoints.settings import Settings


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


def test_options_and_the_default_worker_count() -> None:
    args = parse_args(["--port", "9000", "--workers", "3", "--no-access-log"])
    assert (args.host, args.port, args.workers, args.no_access_log) == (
        "127.0.0.1",
        9000,
        3,
        True,
    )
    assert parse_args([]).workers is None  # then SENTIMENT_WORKERS, else the cores
    assert default_workers() >= 1


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
    sys.exit(3)  # as a worker whose app fails to import


def record_and_sleep(sock: socket.socket, options: ServeOptions) -> None:
    with Path(os.environ["SUPERVISOR_TEST_PIDS"]).open("a") as pids:
        pids.write(f"{os.getpid()}\n")
    time.sleep(120)


def test_a_crash_loop_stops_the_supervisor_with_the_workers_status() -> None:
    [sock] = listening_sockets("127.0.0.1", 0, 1)
    options = ServeOptions(host="127.0.0.1", port=0, workers=1)
    try:
        code = Supervisor([sock], options, target=crash_at_once, restart_delay_s=0.01).run()
    finally:
        sock.close()
    assert code == 3


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
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=operator)
    thread.start()
    try:
        code = supervisor.run()  # in the main thread, as in `serve`
    finally:
        thread.join(timeout=60)
        sock.close()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert code == 0
    assert len(set(seen)) == 4, seen  # the first worker and three replacements
    assert not any(Path(f"/proc/{pid}").exists() for pid in seen)


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

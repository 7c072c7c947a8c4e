"""`python -m sentiment.entrypoints.serve`: the API under uvicorn, one worker process per core.

    python -m sentiment.entrypoints.serve [--host 127.0.0.1] [--port 8000] [--workers N]
        [--no-access-log] [--log-level info]

Workers: `--workers`, else `SENTIMENT_WORKERS`, else the number of cores this process may run on.
One worker runs in this process; several run as child processes under a small supervisor that
replaces a worker that dies and stops them all on SIGTERM or SIGINT.

Four things differ from `uvicorn --workers N`:

- Preload (on by default; `--no-preload` or `SENTIMENT_PRELOAD=false` turns it off): the
  supervisor imports the app and loads the model once, then forks the workers from itself, so they
  start serving at once and share those pages copy-on-write. uvicorn spawns fresh interpreters
  that each import and load on their own, all at the same time. A forked worker asks the registry
  once whether the alias still points at the preloaded version (a replacement may start long
  after the preload) and loads the new one if not. If the preload fails, each worker loads on its
  own and retries; if the preload left a thread running, the workers are spawned instead (forking
  a process with threads is unsafe).

- Every listening socket is created with `IPPROTO_TCP`. uvicorn binds its shared socket with
  protocol 0, so asyncio never sets TCP_NODELAY on the connections it accepts, and each
  keep-alive response waits for the client's delayed ACK (about 40 ms: 22 requests/s at
  concurrency 1; uvicorn issue #3149). With `IPPROTO_TCP`, asyncio sets TCP_NODELAY on every
  accepted connection.
- The request head is bounded where uvicorn would use httptools, which buffers a head of any
  length and waits for it for ever (`bounded_http`): 16 KiB (431) and 30 s (408).
- Where the system has SO_REUSEPORT (Linux), each worker gets its own listening socket on the
  same port and the kernel spreads new connections over them. From one shared socket, a burst of
  keep-alive connections (a load generator, a connection pool) often lands on a single worker.

The parent keeps every socket open for the life of the server, so a replaced worker takes over
its predecessor's socket and the connections queued on it.

Exit status: 0 once stopped by SIGTERM or SIGINT; 2 for an invalid option or setting; 3
(`STARTUP_FAILURE`, as under `uvicorn.run`) when the app's startup fails in the single worker.
With several workers, a worker that dies within 10 s of its start 5 times in a row stops the
server with that worker's status (3 for a startup failure; 1 when it exited 0 or was killed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentiment.entrypoints.settings import Settings

APP = "sentiment.entrypoints.api:app"
BACKLOG = 2048
CRASH_WINDOW_S = 10.0  # a worker that dies this soon after its start counts as a quick failure
MAX_QUICK_FAILURES = 5  # this many in a row on one slot (a crash loop) stop the server
RESTART_DELAY_S = 0.5  # before restarting after a quick failure; doubles with each one
STOP_TIMEOUT_S = 30.0
STARTUP_FAILURE = 3  # a worker whose app failed to start exits with this, as under uvicorn.run

logger = logging.getLogger("sentiment.serve")


def default_workers() -> int:
    """The number of cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening TCP sockets on host:port, each created with IPPROTO_TCP (so asyncio sets
    TCP_NODELAY on accepted connections). With SO_REUSEPORT they are separate sockets on one
    port (port 0: a free one); without it, one socket shared by every worker. OSError for a port
    something listens on."""
    reuse_port = count > 1 and hasattr(socket, "SO_REUSEPORT")
    if reuse_port:
        port = _unused_port(host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count if reuse_port else 1):
            sock = _tcp_socket(host, port, reuse_port)
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _unused_port(host: str, port: int) -> int:
    """`port` (0: a free one), once a socket without SO_REUSEPORT could bind it. The sockets of
    another server that set SO_REUSEPORT (this one run twice, by the same user) would let ours
    bind beside theirs, and the kernel would spread the connections over both servers."""
    with _tcp_socket(host, port, reuse_port=False, listen=False) as probe:
        return int(probe.getsockname()[1])


def _tcp_socket(host: str, port: int, reuse_port: bool, listen: bool = True) -> socket.socket:
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        if listen:
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    access_log: bool = True
    log_level: str = "info"
    http: str = "auto"  # uvicorn: httptools when installed, else h11
    loop: str = "auto"  # uvicorn: uvloop when installed, else asyncio
    preload: bool = True  # several workers: import and load once, then fork them
    app: str = APP  # the ASGI app a worker serves, as an import string


def run_worker(sock: socket.socket, options: ServeOptions) -> None:
    """One uvicorn server on an already listening socket (in this process)."""
    import uvicorn

    from sentiment.entrypoints.allocator import use_one_arena
    from sentiment.entrypoints.api import prepare_process
    from sentiment.entrypoints.api.logs import set_access_log

    # Before any thread starts: freed batch temporaries are reused by every thread (allocator).
    use_one_arena()
    # Before uvicorn installs its signal handlers: JSON logs, and exit 0 after a graceful SIGTERM.
    prepare_process()
    set_access_log(options.access_log)

    config = uvicorn.Config(
        options.app,
        log_config=None,  # prepare_process() configured the loggers: JSON lines, ours
        host=options.host,
        port=options.port,
        access_log=False,  # uvicorn's own access line: ours is `set_access_log` above
        log_level=options.log_level,
        backlog=BACKLOG,
        http=http_protocol(options.http),
        loop=options.loop,
    )
    server = uvicorn.Server(config)
    # SIGINT (Ctrl-C): uvicorn shuts down gracefully, then raises it again; as `uvicorn.run`,
    # end there without a KeyboardInterrupt traceback.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:
        # uvicorn < 0.50 returns when the app's startup fails (`uvicorn.run` then exits 3 itself):
        # this worker would exit 0, as after a graceful stop.
        raise SystemExit(STARTUP_FAILURE)


def http_protocol(choice: str) -> str | type[asyncio.Protocol]:
    """uvicorn's `http` for the `--http` choice: where uvicorn would use httptools, httptools with
    the request head bounded (`bounded_http`); h11 bounds it already."""
    if choice == "h11" or importlib.util.find_spec("httptools") is None:
        return choice  # no httptools: "auto" means h11, "httptools" fails in uvicorn as usual
    from sentiment.entrypoints.bounded_http import BoundedHttpToolsProtocol

    return BoundedHttpToolsProtocol


def run_forked_worker(sock: socket.socket, options: ServeOptions) -> None:
    """`run_worker` in a process forked from the supervisor: first drop the signal handlers it
    inherited from the supervisor, so that SIGTERM and SIGINT stop this worker, not a copy of
    the supervisor's loop."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run_worker(sock, options)


def preload_app() -> bool:
    """Import the app, uvicorn and its fast parser and loop, and load the model, in this process.
    True when the workers may be forked from it: no thread is left running."""
    import uvicorn  # noqa: F401 - imported once, here, for every forked worker

    from sentiment.entrypoints.api import preload

    for module in ("httptools", "uvloop"):  # what uvicorn's "auto" picks, when installed
        with contextlib.suppress(ImportError):
            __import__(module)
    preload()
    threads = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if threads:
        logger.warning("the preload left threads running (%s): spawning the workers", threads)
    return not threads


class Supervisor:
    """Starts one worker per socket slot, replaces workers that die, stops them all on a signal."""

    def __init__(
        self,
        sockets: Sequence[socket.socket],
        options: ServeOptions,
        target: Callable[[socket.socket, ServeOptions], None] = run_worker,
        restart_delay_s: float = RESTART_DELAY_S,
        start_method: str = "spawn",
        crash_window_s: float = CRASH_WINDOW_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self._sockets = list(sockets)
        self._options = options
        self._target = target
        self._restart_delay_s = restart_delay_s
        self._crash_window_s = crash_window_s
        self._stop_timeout_s = stop_timeout_s
        self._context = (
            multiprocessing.get_context("fork")
            if start_method == "fork"
            else multiprocessing.get_context("spawn")
        )
        self._workers: list[tuple[BaseProcess, float]] = []
        self._stop = threading.Event()

    def _socket_for(self, slot: int) -> socket.socket:
        return self._sockets[slot % len(self._sockets)]

    def _start(self, slot: int) -> tuple[BaseProcess, float]:
        process = self._context.Process(
            target=self._target,
            args=(self._socket_for(slot), self._options),
            name=f"sentiment-worker-{slot}",
        )
        process.start()
        logger.info("started worker %d (pid %s)", slot, process.pid)
        return process, time.monotonic()

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self._workers = [self._start(slot) for slot in range(self._options.workers)]
        quick_failures = [0] * len(self._workers)
        code = 0
        while not self._stop.wait(0.5):
            for slot, (process, started) in enumerate(self._workers):
                if process.is_alive():
                    continue
                exitcode = process.exitcode if process.exitcode is not None else 1
                quick = time.monotonic() - started < self._crash_window_s
                quick_failures[slot] = quick_failures[slot] + 1 if quick else 0
                if quick_failures[slot] >= MAX_QUICK_FAILURES:
                    logger.error(
                        "worker %d (pid %s) exited with %s, the %dth time in a row within %.0f s "
                        "of its start; stopping",
                        slot,
                        process.pid,
                        exitcode,
                        quick_failures[slot],
                        self._crash_window_s,
                    )
                    code = exitcode if exitcode > 0 else 1
                    self._stop.set()
                    break
                logger.warning(
                    "worker %d (pid %s) exited with %s; starting another",
                    slot,
                    process.pid,
                    exitcode,
                )
                if quick_failures[slot] and self._stop.wait(
                    self._restart_delay_s * 2 ** (quick_failures[slot] - 1)
                ):
                    break
                self._workers[slot] = self._start(slot)
        self._stop_workers()
        return code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _stop_workers(self) -> None:
        for process, _ in self._workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes what is in flight
        deadline = time.monotonic() + self._stop_timeout_s
        for process, _ in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def serve(options: ServeOptions) -> int:
    """Serve until stopped; returns the exit code."""
    sockets = listening_sockets(options.host, options.port, options.workers)
    port = sockets[0].getsockname()[1]
    try:
        if options.workers == 1:
            run_worker(sockets[0], options)
            return 0
        fork = (
            options.preload and "fork" in multiprocessing.get_all_start_methods() and preload_app()
        )
        logger.info(
            "serving on http://%s:%d with %d workers (%s, %s)",
            options.host,
            port,
            options.workers,
            "a socket each, SO_REUSEPORT" if len(sockets) > 1 else "one shared socket",
            "forked after the preload" if fork else "spawned",
        )
        if fork:
            return Supervisor(sockets, options, run_forked_worker, start_method="fork").run()
        return Supervisor(sockets, options).run()
    finally:
        for sock in sockets:
            sock.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment.entrypoints.serve",
        description="Serve the sentiment API with one uvicorn worker process per core.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: SENTIMENT_WORKERS, else the number of cores)",
    )
    parser.add_argument(
        "--no-access-log", action="store_true", help="no access log line per request"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument(
        "--http", default="auto", choices=["auto", "h11", "httptools"], help="HTTP parser"
    )
    parser.add_argument(
        "--loop", default="auto", choices=["auto", "asyncio", "uvloop"], help="event loop"
    )
    parser.add_argument(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="several workers: import and load the model once, then fork the workers "
        "(default: SENTIMENT_PRELOAD, else on)",
    )
    return parser.parse_args(argv)


def _may_preload(settings: Settings, requested: bool | None) -> bool:
    """The preload (`--preload`, else SENTIMENT_PRELOAD) needs the lean registry reader: MLflow's
    own client keeps database connections (and may keep threads) that must not cross a fork."""
    preload = settings.preload if requested is None else requested
    if preload and settings.registry == "mlflow" and settings.serving_reader == "mlflow":
        logger.info("SENTIMENT_SERVING_READER=mlflow: no preload, the workers are spawned")
        return False
    return preload


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from pydantic import ValidationError

    from sentiment.entrypoints.cli_support import EXIT_BAD_INPUT, one_line
    from sentiment.entrypoints.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:  # one line, as the other CLIs say it
        print(f"error: invalid setting: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        options = serve_options(args, settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    return serve(options)


def serve_options(args: argparse.Namespace, settings: Settings) -> ServeOptions:
    """What `main` serves with, from its arguments and the settings: `--workers`, else
    SENTIMENT_WORKERS, else the cores; the preload as `_may_preload` allows it. ValueError for
    fewer than one worker."""
    workers = args.workers if args.workers is not None else settings.workers or default_workers()
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    return ServeOptions(
        host=args.host,
        port=args.port,
        workers=workers,
        access_log=not args.no_access_log,
        log_level=args.log_level,
        http=args.http,
        loop=args.loop,
        preload=_may_preload(settings, args.preload),
    )


if __name__ == "__main__":
    sys.exit(main())

"""The serve entrypoint's sockets: IPPROTO_TCP (so TCP_NODELAY on every accepted connection),
one socket per worker with SO_REUSEPORT, and its options."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sentiment.entrypoints.serve import default_workers, listening_sockets, parse_args


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

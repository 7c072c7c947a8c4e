"""A `ThreadingHTTPServer` on a free loopback port, in a thread, for the length of a block."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def threaded_http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve with `handler` on 127.0.0.1; yields the port; stopped and closed at the end."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

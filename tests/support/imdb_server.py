"""A small archive in the aclImdb layout, served from a loopback HTTP server in a thread.

The server can misbehave on purpose (`mode`): send fewer bytes than its Content-Length, cut a
chunked body short, omit the length and stop early, corrupt the bytes, answer 404, or send half
the body and then stall until `release` is set (a download that is still going on).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.local_http import threaded_http_server

POSITIVE = [
    "A wonderful film, moving and beautifully acted.",
    "Brilliant story, superb cast, I loved it.",
    "An excellent, joyful movie. A masterpiece.",
    "Great fun from start to finish, wonderful music.",
    "Superb direction and a brilliant script.",
    "I loved every minute, excellent and moving.",
    "A beautiful, great film with a wonderful ending.",
    "Masterpiece. Brilliant, joyful and superb.",
    "Excellent acting, great photography, loved it.",
    "Wonderful and brilliant, a great movie.",
]
NEGATIVE = [
    "A dreadful film, boring and badly acted.",
    "Awful story, terrible cast, I hated it.",
    "A stupid, dull movie. A waste of time.",
    "Boring from start to finish, awful music.",
    "Terrible direction and a stupid script.",
    "I hated every minute, dull and dreadful.",
    "An ugly, awful film with a boring ending.",
    "Waste of time. Terrible, dull and stupid.",
    "Dreadful acting, awful photography, hated it.",
    "Boring and terrible, an awful movie.",
]


def build_archive(blank_reviews: int = 1) -> bytes:
    """aclImdb_v1.tar.gz in miniature: train/pos, train/neg, a two-review test half, plus parts
    the reader of the train half must skip.

    Ids are numbered so that a string sort would differ from a numeric one (2 before 10).
    `blank_reviews` whitespace-only reviews are added to train/neg.
    """
    files: dict[str, str] = {
        "aclImdb/README": "Large Movie Review Dataset v1.0\n",
        "aclImdb/imdb.vocab": "the\nand\n",
        "aclImdb/train/labeledBow.feat": "0 0:1\n",
        "aclImdb/train/urls_pos.txt": "http://example.invalid/\n",
        "aclImdb/train/unsup/0_0.txt": "Unlabelled review, never read.",
        "aclImdb/test/pos/0_10.txt": "A test-half review, read only as the test half.",
        "aclImdb/test/neg/0_1.txt": "Another test-half review.",
    }
    for i, text in enumerate(POSITIVE):
        files[f"aclImdb/train/pos/{i * 4 + 2}_{7 + i % 4}.txt"] = text
    for i, text in enumerate(NEGATIVE):
        files[f"aclImdb/train/neg/{i * 4 + 2}_{1 + i % 4}.txt"] = text
    for i in range(blank_reviews):
        files[f"aclImdb/train/neg/{1000 + i}_2.txt"] = "  \n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("aclImdb"), None)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class ArchiveServer:
    archive: bytes
    url: str = ""
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    """In mode "stall": set once half the body is sent."""
    release: threading.Event = field(default_factory=threading.Event)
    """In mode "stall": set it to send the rest of the body."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.archive).hexdigest()

    @property
    def size(self) -> int:
        return len(self.archive)


def _handler(state: ArchiveServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.archive
            half = len(body) // 2
            self.close_connection = True
            if state.mode == "404" or not self.path.endswith("aclImdb_v1.tar.gz"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            if state.mode == "chunked-cut":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(f"{len(body):x}\r\n".encode() + body[:half])
                return
            if state.mode != "no-length":
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if state.mode == "stall":
                self.wfile.write(body[:half])
                self.wfile.flush()
                state.stalled.set()
                state.release.wait(timeout=60)
                with contextlib.suppress(OSError):  # the client may be gone (killed)
                    self.wfile.write(body[half:])
            elif state.mode in ("truncated", "no-length"):
                self.wfile.write(body[:half])
            elif state.mode == "corrupt":
                self.wfile.write(
                    body[:half]
                    + bytes(b ^ 0xFF for b in body[half : half + 16])
                    + body[half + 16 :]
                )
            else:
                self.wfile.write(body)

    return Handler


@contextmanager
def serve_archive(archive: bytes) -> Iterator[ArchiveServer]:
    """Serve `archive` at http://127.0.0.1:<free port>/aclImdb_v1.tar.gz until the block ends."""
    state = ArchiveServer(archive)
    with threaded_http_server(_handler(state)) as port:
        state.url = f"http://127.0.0.1:{port}/data/aclImdb_v1.tar.gz"
        try:
            yield state
        finally:
            state.release.set()  # a stalled answer ends with the server

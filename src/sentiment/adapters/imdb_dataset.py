"""ImdbDatasetSource: a half of IMDB (train or test), downloaded once into a cache and read from
the archive.

The archive (`aclImdb_v1.tar.gz`, Maas et al. 2011) is fetched from its canonical address with a
progress bar, checked against its published SHA-256 and size, and renamed into place only when
whole and correct: an interrupted, truncated or corrupt download leaves no file in the cache.
A download writes its own `.aclImdb_v1.tar.gz.<random>.part` file and holds an exclusive lock
(flock) on it until it is renamed or deleted; a process killed outright (SIGKILL, OOM, power)
cannot delete its file, but the kernel drops its lock, so every later fetch deletes the `.part`
files nobody holds: never one that a live download, in any process, is still writing.
The cached archive is checked against the SHA-256 again at every load (a fraction of a second).
A half is read straight from the archive's `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`
layout, without unpacking it. The test half is for evaluation only (`--eval-data imdb-test`):
tuning on it would make its accuracy a training figure.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO

from sentiment.adapters.dataset_digest import dataset_digest
from sentiment.domain.errors import DatasetError, DownloadError
from sentiment.domain.model import LabelledDataset
from sentiment.domain.ports import DatasetSource

if sys.platform != "win32":
    import fcntl

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_SIZE = 84_125_825
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
HALVES = ("train", "test")
_LABELS = {"pos": "positive", "neg": "negative"}
_CHUNK = 1 << 16
_PART_PREFIX = f".{ARCHIVE_NAME}."
_PART_SUFFIX = ".part"


class ImdbDatasetSource(DatasetSource):
    """The 25,000 labelled reviews of one IMDB half (`positive` / `negative`): `half="train"`
    (the default) or `"test"`. Both come from the same archive, downloaded once.

    `sha256` and `size` default to the published archive's; a test serving its own small archive
    passes its own. `size=None` skips the size check.
    """

    def __init__(
        self,
        url: str = IMDB_URL,
        cache_dir: str | Path = "~/.cache/sentiment",
        sha256: str = IMDB_SHA256,
        size: int | None = IMDB_SIZE,
        timeout_s: float = 60.0,
        progress: bool = True,
        half: str = "train",
    ) -> None:
        if half not in HALVES:
            raise DatasetError(f"IMDB has a train and a test half, not {half!r}")
        self._half = half
        self._member = re.compile(rf"^(?:\./)?aclImdb/{half}/(pos|neg)/(\d+)_(\d+)\.txt$")
        self._url = url
        self._cache_dir = Path(cache_dir).expanduser()
        self._sha256 = sha256.lower()
        self._size = size
        self._timeout = timeout_s
        self._progress = progress

    @property
    def half(self) -> str:
        """Which half it reads: `train` or `test`."""
        return self._half

    @property
    def archive_path(self) -> Path:
        return self._cache_dir / ARCHIVE_NAME

    def load(self) -> LabelledDataset:
        archive = self.fetch()
        rows, dropped = self._read(archive)
        rows.sort(key=lambda r: (r[0], r[1]))  # by label then id, as the shared CSV is
        texts = [text for _, _, text in rows]
        labels = [label for label, _, _ in rows]
        return LabelledDataset(
            texts=tuple(texts),
            labels=tuple(labels),
            name=f"imdb-{self._half}",
            source=self._url,
            digest=dataset_digest(texts, labels),
            dropped=dropped,
        )

    def fetch(self) -> Path:
        """The verified archive in the cache, downloaded first if it is not there."""
        target = self.archive_path
        if self._cache_dir.is_dir():
            _remove_abandoned_parts(self._cache_dir)
        if target.is_file():
            self._verify_cached(target)
            return target
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial, sink = _open_part(self._cache_dir)
        # The lock on `sink` lasts until it is closed: after the rename, or the deletion.
        with sink:
            try:
                digest = self._download_into(sink)
                if digest != self._sha256:
                    raise DownloadError(
                        f"checksum mismatch for {self._url}: expected sha256 {self._sha256}, "
                        f"got {digest}; the download was discarded"
                    )
                sink.flush()
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return target

    def _verify_cached(self, archive: Path) -> None:
        """Refuse a cached archive that is not the expected one: damaged on disk, or put there
        by hand. Reading it cannot tell: tarfile stops at the end of the tar, before the gzip
        trailer's CRC, so damage there (or a bit flip it would catch) goes unnoticed."""
        hasher = hashlib.sha256()
        try:
            with archive.open("rb") as handle:
                while chunk := handle.read(_CHUNK * 16):
                    hasher.update(chunk)
        except OSError as exc:
            raise DatasetError(
                f"cannot read the IMDB archive {archive}: {exc.strerror or exc}"
            ) from exc
        if hasher.hexdigest() != self._sha256:
            raise DatasetError(
                f"cannot read the IMDB archive {archive}: its sha256 is {hasher.hexdigest()}, "
                f"not the expected {self._sha256}; delete it to download it again"
            )

    def _download_into(self, sink: object) -> str:
        from tqdm import tqdm

        assert hasattr(sink, "write")
        hasher = hashlib.sha256()
        received = 0
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout) as response:  # noqa: S310
                declared = response.headers.get("Content-Length")
                length = int(declared) if declared and declared.isdigit() else None
                if None not in (length, self._size) and length != self._size:
                    raise DownloadError(  # not read: it cannot be the archive
                        f"download of {self._url} refused: the server declares {length} bytes, "
                        f"not the expected {self._size}"
                    )
                total = self._size if length is None else length
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"download {ARCHIVE_NAME}",
                    disable=not self._progress,
                    file=sys.stderr,
                ) as bar:
                    while chunk := response.read(_CHUNK):
                        hasher.update(chunk)
                        sink.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if self._size is not None and received > self._size:
                            raise DownloadError(  # a body without a length stops here
                                f"download of {self._url} refused: more than the expected "
                                f"{self._size} bytes; the partial file was discarded"
                            )
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"download of {self._url} failed: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # IncompleteRead (a chunked body cut short) is an HTTPException, not an OSError.
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise DownloadError(
                f"download of {self._url} failed after {received} bytes: {reason}"
            ) from exc
        expected = self._size if length is None else length
        if expected is not None and received != expected:
            raise DownloadError(
                f"download of {self._url} is truncated: {received} of {expected} bytes; "
                "the partial file was discarded"
            )
        return hasher.hexdigest()

    def _read(self, archive: Path) -> tuple[list[tuple[str, int, str]], int]:
        """The (label, id, text) of every non-empty review of the half, and how many were empty."""
        rows: list[tuple[str, int, str]] = []
        dropped = 0
        try:
            with tarfile.open(archive, mode="r:gz") as tar:
                for member in tar:
                    match = self._member.match(member.name)
                    if not match or not member.isfile():
                        continue
                    handle = tar.extractfile(member)
                    if handle is None:
                        continue
                    text = handle.read().decode("utf-8", errors="replace").strip()
                    if text:
                        rows.append((_LABELS[match.group(1)], int(match.group(2)), text))
                    else:
                        dropped += 1
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DatasetError(
                f"cannot read the IMDB archive {archive}: {exc}; delete it to download it again"
            ) from exc
        if not rows and not dropped:
            raise DatasetError(f"{archive} holds no aclImdb/{self._half}/pos or neg reviews")
        return rows, dropped


def _open_part(cache_dir: Path) -> tuple[Path, BinaryIO]:
    """A new `.part` file in `cache_dir`, open for writing and exclusively locked.

    Between its creation and the lock, another process's `_remove_abandoned_parts` may take it
    for abandoned and delete it: then the name no longer leads to the open file, and a new one
    is made."""
    for _ in range(5):
        fd, name = tempfile.mkstemp(prefix=_PART_PREFIX, suffix=_PART_SUFFIX, dir=cache_dir)
        sink = os.fdopen(fd, "wb")
        if sys.platform == "win32":  # no flock: abandoned parts are not cleaned up there
            return Path(name), sink
        fcntl.flock(sink.fileno(), fcntl.LOCK_EX)
        if _same_file(name, sink.fileno()):
            return Path(name), sink
        sink.close()
    raise DownloadError(f"cannot create a download file in {cache_dir}: it keeps disappearing")


def _remove_abandoned_parts(cache_dir: Path) -> None:
    """Delete the `.part` files in `cache_dir` that no download holds locked: left by a
    download that was killed before it could delete its own. A live download's file is locked
    and left alone; anything that cannot be opened or locked is left alone too."""
    if sys.platform == "win32":
        return
    for path in cache_dir.glob(f"{_PART_PREFIX}*{_PART_SUFFIX}"):
        try:
            # O_RDWR: over NFS, flock is an fcntl lock, and an exclusive one needs write access.
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # gone already (renamed into place, or deleted), or not ours to open
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live download holds it
        try:
            if _same_file(path, fd):
                path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache: the file stays, the download can still go on
        finally:
            os.close(fd)


def _same_file(path: str | Path, fd: int) -> bool:
    """Does `path` still name the file open as `fd`?"""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)

"""ImdbDatasetSource against a small aclImdb archive served from a loopback HTTP server."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sentiment.adapters.dataset_digest import dataset_digest
from sentiment.adapters.imdb_dataset import ARCHIVE_NAME, ImdbDatasetSource
from sentiment.domain.errors import DatasetError, DownloadError
from tests.support.imdb_server import (
    NEGATIVE,
    POSITIVE,
    ArchiveServer,
    build_archive,
    serve_archive,
)
from tests.support.local_http import free_port
from tests.support.processes import clean_env


@pytest.fixture(scope="module")
def archive() -> bytes:
    return build_archive(blank_reviews=2)


@pytest.fixture
def server(archive: bytes) -> Iterator[ArchiveServer]:
    with serve_archive(archive) as state:
        yield state


def source(
    server: ArchiveServer, cache: Path, sha256: str | None = None, size: int | None = -1
) -> ImdbDatasetSource:
    """A source for the served archive, expecting its real checksum and size unless told."""
    return ImdbDatasetSource(
        url=server.url,
        cache_dir=cache,
        sha256=sha256 or server.sha256,
        size=server.size if size == -1 else size,
        timeout_s=10.0,
        progress=False,
    )


def test_downloads_verifies_and_reads_the_train_half(server: ArchiveServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dataset = source(server, cache).load()

    assert server.requests == ["/data/aclImdb_v1.tar.gz"]
    assert sorted(p.name for p in cache.iterdir()) == [ARCHIVE_NAME]
    assert (cache / ARCHIVE_NAME).read_bytes() == server.archive
    # By label, then by numeric id; the test half, unsup and other files are skipped.
    assert dataset.texts == (*NEGATIVE, *POSITIVE)
    assert dataset.labels == ("negative",) * len(NEGATIVE) + ("positive",) * len(POSITIVE)
    assert dataset.dropped == 2
    assert dataset.name == "imdb-train"
    assert dataset.source == server.url
    assert dataset.digest == dataset_digest(dataset.texts, dataset.labels)


def test_a_second_load_uses_the_cache_without_any_request(
    server: ArchiveServer, tmp_path: Path
) -> None:
    first = source(server, tmp_path).load()
    second = source(server, tmp_path).load()
    assert second == first
    assert len(server.requests) == 1


def test_the_cache_dir_is_created_with_its_parents(server: ArchiveServer, tmp_path: Path) -> None:
    cache = tmp_path / "a" / "b" / "c"
    source(server, cache).load()
    assert (cache / ARCHIVE_NAME).is_file()


def test_the_size_check_can_be_skipped(server: ArchiveServer, tmp_path: Path) -> None:
    assert len(source(server, tmp_path, size=None).load()) == len(POSITIVE) + len(NEGATIVE)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("truncated", r"is truncated: \d+ of \d+ bytes; the partial file was discarded"),
        ("no-length", r"is truncated: \d+ of \d+ bytes"),
        ("chunked-cut", r"failed after \d+ bytes: IncompleteRead$"),
        ("corrupt", "checksum mismatch .* the download was discarded"),
        ("404", "failed: HTTP 404"),
    ],
)
def test_a_bad_download_fails_clearly_and_leaves_no_file(
    server: ArchiveServer, tmp_path: Path, mode: str, message: str
) -> None:
    server.mode = mode
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=message) as caught:
        source(server, cache).load()
    assert server.url in str(caught.value)
    assert list(cache.iterdir()) == []


def test_a_declared_length_that_is_not_the_archive_s_is_refused_before_reading(
    server: ArchiveServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    message = (
        f"refused: the server declares {server.size} bytes, not the expected {server.size - 1}$"
    )
    with pytest.raises(DownloadError, match=message):
        source(server, cache, size=server.size - 1).load()
    assert list(cache.iterdir()) == []


def test_a_body_without_a_length_is_not_read_past_the_expected_size(
    server: ArchiveServer, tmp_path: Path
) -> None:
    server.mode = "no-length"  # sends half the archive, then closes
    cache = tmp_path / "cache"
    expected = server.size // 2 - 1
    message = f"refused: more than the expected {expected} bytes; the partial file was discarded"
    with pytest.raises(DownloadError, match=message):
        source(server, cache, size=expected).load()
    assert list(cache.iterdir()) == []


def test_after_a_failed_download_the_next_load_downloads_again(
    server: ArchiveServer, tmp_path: Path
) -> None:
    server.mode = "truncated"
    with pytest.raises(DownloadError):
        source(server, tmp_path).load()
    server.mode = "ok"
    assert len(source(server, tmp_path).load()) == 20
    assert len(server.requests) == 2


@contextmanager
def download_in_a_process(server: ArchiveServer, cache: Path) -> Iterator[subprocess.Popen[str]]:
    """`load()` of the served archive in another Python process; killed at the end if alive.

    With the server in mode "stall", the process is mid-download once `server.stalled` is set."""
    code = (
        "from sentiment.adapters.imdb_dataset import ImdbDatasetSource\n"
        f"source = ImdbDatasetSource(url={server.url!r}, cache_dir={str(cache)!r}, "
        f"sha256={server.sha256!r}, size={server.size}, timeout_s=30.0, progress=False)\n"
        "print(len(source.load()))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=clean_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def parts(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.endswith(".part"))


def test_the_part_file_of_a_killed_download_is_deleted_by_the_next_download(
    server: ArchiveServer, tmp_path: Path
) -> None:
    server.mode = "stall"
    with download_in_a_process(server, tmp_path) as child:
        assert server.stalled.wait(timeout=30)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    [left] = parts(tmp_path)  # it could not delete its own file
    assert left.startswith(f".{ARCHIVE_NAME}.")

    server.mode = "ok"
    assert len(source(server, tmp_path).load()) == 20

    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_a_live_download_keeps_its_part_file_and_a_killed_one_loses_it_even_to_a_cached_load(
    archive: bytes, tmp_path: Path
) -> None:
    with serve_archive(archive) as slow, serve_archive(archive) as fast:
        slow.mode = "stall"
        with download_in_a_process(slow, tmp_path) as live:
            assert slow.stalled.wait(timeout=30)
            [its_part] = parts(tmp_path)

            assert len(source(fast, tmp_path).load()) == 20  # another download, to the end

            assert parts(tmp_path) == [its_part]  # still being written: left alone
            slow.release.set()
            out, _ = live.communicate(timeout=30)
            assert (live.returncode, out.strip()) == (0, "20")  # it finished its own download
        assert parts(tmp_path) == []

        slow.release.clear()
        slow.stalled.clear()
        (tmp_path / ARCHIVE_NAME).unlink()
        with download_in_a_process(slow, tmp_path) as killed:
            assert slow.stalled.wait(timeout=30)
            assert source(fast, tmp_path).load()  # downloaded again, while the other one is live
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
        assert len(parts(tmp_path)) == 1

        assert len(source(fast, tmp_path).load()) == 20  # from the cache
        assert len(fast.requests) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_a_wrong_expected_checksum_is_a_mismatch(server: ArchiveServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="checksum mismatch"):
        source(server, tmp_path, sha256="0" * 64).load()
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server(tmp_path: Path) -> None:
    imdb = ImdbDatasetSource(
        url=f"http://127.0.0.1:{free_port()}/aclImdb_v1.tar.gz",
        cache_dir=tmp_path,
        progress=False,
        timeout_s=5.0,
    )
    with pytest.raises(DownloadError, match=r"failed after 0 bytes: .*Connection refused"):
        imdb.load()
    assert list(tmp_path.iterdir()) == []


def test_an_archive_without_train_reviews(tmp_path: Path) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("aclImdb/test/pos/0_9.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"good"))
    with (
        serve_archive(buffer.getvalue()) as server,
        pytest.raises(DatasetError, match="holds no aclImdb/train/pos or neg reviews"),
    ):
        source(server, tmp_path).load()


def test_a_damaged_cached_archive_is_reported(server: ArchiveServer, tmp_path: Path) -> None:
    (tmp_path / ARCHIVE_NAME).write_bytes(b"not a gzip file")
    with pytest.raises(DatasetError, match="cannot read the IMDB archive"):
        source(server, tmp_path).load()
    assert server.requests == []


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: flip_byte(a, len(a) - 6),  # the gzip trailer's CRC, which tarfile never reads
        lambda a: a[:-4],  # cut short by the size field: every review still reads
        lambda a: flip_byte(a, len(a) // 2),  # mid-stream: zlib.error, not an OSError
    ],
    ids=["crc", "truncated-trailer", "deflate-stream"],
)
def test_a_cached_archive_that_is_not_the_expected_one_is_reported(
    server: ArchiveServer, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    (tmp_path / ARCHIVE_NAME).write_bytes(damage(server.archive))
    with pytest.raises(DatasetError, match=r"cannot read the IMDB archive .*delete it"):
        source(server, tmp_path, size=None).load()
    assert server.requests == []


def test_an_archive_whose_checksum_matches_but_whose_stream_is_broken(
    archive: bytes, tmp_path: Path
) -> None:
    # The expected checksum is the broken archive's own (a wrong SENTIMENT_IMDB_SHA256, say):
    # reading it raises zlib.error, which is not an OSError.
    with serve_archive(flip_byte(archive, len(archive) // 2)) as broken:
        with pytest.raises(DatasetError, match=r"cannot read the IMDB archive .*delete it"):
            source(broken, tmp_path).load()
        assert len(broken.requests) == 1


def test_the_test_half_comes_from_the_same_archive(server: ArchiveServer, tmp_path: Path) -> None:
    train = source(server, tmp_path).load()
    test_half = ImdbDatasetSource(
        url=server.url, cache_dir=tmp_path, sha256=server.sha256, size=server.size, half="test"
    )
    test = test_half.load()

    assert len(server.requests) == 1  # one download serves both halves
    assert test_half.half == "test"
    assert test.texts == (
        "Another test-half review.",
        "A test-half review, read only as the test half.",
    )
    assert test.labels == ("negative", "positive")
    assert (test.name, test.dropped) == ("imdb-test", 0)
    assert not set(test.texts) & set(train.texts)


def test_there_is_no_third_half(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="a train and a test half, not 'unsup'"):
        ImdbDatasetSource(cache_dir=tmp_path, half="unsup")


def test_a_download_shows_its_progress_on_stderr_unless_told_not_to(
    server: ArchiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = source(server, tmp_path / "quiet")
    assert len(quiet.load()) == 20
    assert capsys.readouterr() == ("", "")
    shown = ImdbDatasetSource(
        url=server.url, cache_dir=tmp_path / "shown", sha256=server.sha256, size=server.size
    )
    assert len(shown.load()) == 20
    out, err = capsys.readouterr()
    assert out == ""
    assert f"download {ARCHIVE_NAME}: 100%" in err  # every byte counted
    assert len(shown.load()) == 20  # from the cache: nothing to show
    assert capsys.readouterr() == ("", "")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_clearing_abandoned_part_files_leaves_no_file_open(archive: bytes, tmp_path: Path) -> None:
    (tmp_path / ARCHIVE_NAME).write_bytes(archive)
    abandoned = tmp_path / f".{ARCHIVE_NAME}.abandoned.part"
    abandoned.write_bytes(archive[:100])
    live = tmp_path / f".{ARCHIVE_NAME}.live.part"
    live.write_bytes(archive[:100])
    imdb = ImdbDatasetSource(
        url="http://127.0.0.1:9/unused",
        cache_dir=tmp_path,
        sha256=hashlib.sha256(archive).hexdigest(),
        size=len(archive),
        progress=False,
    )
    with live.open("rb+") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)  # a download still writing it
        before = open_fds()
        assert len(imdb.load()) == 20  # from the cache
        assert open_fds() == before
    assert not abandoned.exists()
    assert live.exists()

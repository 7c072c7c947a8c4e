"""`--data imdb` (the default) through the real CLI, against the loopback archive server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiment.entrypoints.train import main
from tests.support.imdb_server import ArchiveServer, build_archive, serve_archive

ARGS = ["--registry", "memory", "--model-type", "tfidf-lr", "-p", "n_features_log2=12"]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ArchiveServer]:
    with serve_archive(build_archive(blank_reviews=3)) as state:
        monkeypatch.delenv("SENTIMENT_DATA", raising=False)
        monkeypatch.setenv("SENTIMENT_IMDB_URL", state.url)
        monkeypatch.setenv("SENTIMENT_IMDB_SHA256", state.sha256)
        monkeypatch.setenv("SENTIMENT_IMDB_SIZE", str(state.size))
        monkeypatch.setenv("SENTIMENT_CACHE_DIR", str(tmp_path / "cache"))
        yield state


def test_trains_on_the_downloaded_archive_by_default(
    server: ArchiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    assert main([*ARGS, "--output-json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["params"]["dataset_size"] == 20
    assert result["dropped_rows"] == 3
    assert result["model_version"] == "1"
    assert server.requests == ["/data/aclImdb_v1.tar.gz"]
    assert (tmp_path / "cache" / "aclImdb_v1.tar.gz").is_file()
    assert "20 (3 dropped)" in capsys.readouterr().out


def test_a_corrupt_download_exits_2_with_one_error_line(
    server: ArchiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.mode = "corrupt"
    assert main([*ARGS, "--data", "imdb"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "checksum mismatch" in errors[0]
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_bad_checksum_setting_is_refused(
    server: ArchiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SENTIMENT_IMDB_SHA256", "not-a-digest")
    assert main(ARGS) == 2
    assert capsys.readouterr().err.startswith("error: invalid setting:")
    assert server.requests == []

"""Which artifact locations the lean readers read in place (`local_path`), and which they leave
to a download or to MLflow's client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentiment.adapters.mlflow_reader import local_path


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/srv/mlartifacts/1/abc/artifacts", Path("/srv/mlartifacts/1/abc/artifacts")),
        ("mlruns/1/abc/artifacts", Path("mlruns/1/abc/artifacts")),
        ("file:///srv/a%20b/artifacts", Path("/srv/a b/artifacts")),
        ("file://localhost/srv/artifacts", Path("/srv/artifacts")),
    ],
)
def test_a_local_folder_is_read_where_it_is(uri: str, expected: Path) -> None:
    assert local_path(uri) == expected


@pytest.mark.skipif(os.name == "nt", reason="a one-letter scheme is a drive letter on Windows")
@pytest.mark.parametrize(
    "uri",
    [
        "file://otherhost/srv/artifacts",  # another machine's disk
        "s3://bucket/artifacts",
        "mlflow-artifacts:/1/abc/artifacts",
        "https://mlflow.example/artifacts",
        "x:/folder",  # on POSIX a scheme like any other, not a drive
    ],
)
def test_any_other_location_is_not_local(uri: str) -> None:
    assert local_path(uri) is None

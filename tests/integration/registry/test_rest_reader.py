"""What `RestModelReader` reads from an MLflow tracking server: versions, aliases, runs and
artifacts, each field as MLflow's REST API answers it.

A stub server (tests/support/mlflow_stub.py) answers canned bodies and records every request;
the contract tests read the same through a real `mlflow server` (kind `lean-rest`), more slowly.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from sentiment.adapters import skops_format
from sentiment.adapters.hashed_linear import FILE_NAME
from sentiment.adapters.hashed_linear_classifier import HashedLinearClassifier
from sentiment.adapters.mlflow_rest_reader import RestModelReader
from sentiment.adapters.serving_export import hashed_linear_model
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    RegistryInputError,
    RegistryUnavailableError,
)
from sentiment.domain.model import ModelVersion
from tests.support.local_http import free_port
from tests.support.mlflow_stub import API, ARTIFACTS, Answer, answer, mlflow_error, serve_stub

TEXTS = ["a wonderful film", "a dreadful film", "it was fine"]
VERSION_THREE = {
    "name": "M",
    "version": "3",
    "run_id": "r1",
    "aliases": ["previous", "champion"],
    "tags": [{"key": "dataset_digest", "value": "abc123"}, {"key": "note"}],
    "creation_timestamp": "1700000000500",
    "status": "PENDING_REGISTRATION",
    "source": "models:/m-abc",
    "storage_location": "mlflow-artifacts:/1/models/m-abc/artifacts",
}
RUN = {
    "run": {
        "info": {"run_id": "r1", "status": "FINISHED"},
        "data": {"metrics": [{"key": "f1_macro", "value": 0.8}, {"key": "loss", "value": 0}]},
    }
}
EXPECTED = ModelVersion(
    name="M",
    version="3",
    run_id="r1",
    aliases=("champion", "previous"),
    tags={"dataset_digest": "abc123", "note": ""},
    metrics={"f1_macro": 0.8, "loss": 0.0},
    dataset_digest="abc123",
    created_at=1_700_000_000.5,
    run_status="FINISHED",
    status="PENDING_REGISTRATION",
)


def test_a_version_is_read_with_its_run_by_number_and_by_alias() -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", answer(200, {"model_version": VERSION_THREE}))
        stub.on("registered-models/alias", answer(200, {"model_version": VERSION_THREE}))
        stub.on("runs/get", answer(200, RUN))
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        assert reader.get_version("3") == EXPECTED
        assert reader.get_by_alias("champion") == EXPECTED
    assert [(seen.path, seen.query) for seen in stub.requests] == [
        (f"{API}model-versions/get", {"name": "M", "version": "3"}),
        (f"{API}runs/get", {"run_id": "r1"}),
        (f"{API}registered-models/alias", {"name": "M", "alias": "champion"}),
        (f"{API}runs/get", {"run_id": "r1"}),
    ]
    assert {seen.headers.get("Accept") for seen in stub.requests} == {"application/json"}


def test_a_version_with_only_the_fields_mlflow_always_answers_is_read_with_defaults() -> None:
    """No name, run, tags, time or status: the reader's model name, READY, nothing else (as
    MLflow's client reads it); a run deleted since leaves the version usable."""
    with serve_stub() as stub:
        stub.on(
            "model-versions/get",
            answer(200, {"model_version": {"version": "2"}}),
            answer(200, {"model_version": {"version": "2", "run_id": "gone"}}),
            answer(200, {"model_version": {"version": "2", "run_id": "r"}}),
        )
        stub.on(
            "runs/get",
            mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", "Run 'gone' not found"),
            answer(200, {"run": {"data": {"metrics": [{"key": "loss"}]}}}),
        )
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        bare = reader.get_version("2")
        orphan = reader.get_version("2")
        sparse_run = reader.get_version("2")
    assert bare == ModelVersion(name="M", version="2", run_id="", status="READY")
    assert orphan == ModelVersion(name="M", version="2", run_id="gone", status="READY")
    assert stub.paths().count(f"{API}runs/get") == 2  # no run id: no run to ask for
    assert sparse_run.run_status == ""
    assert list(sparse_run.metrics) == ["loss"]
    assert math.isnan(sparse_run.metrics["loss"])  # a metric without a value: NaN


def test_listing_versions_reads_each_with_its_aliases_from_the_registered_model() -> None:
    """The search answers `aliases` empty; the registered model holds them."""
    listed = {**VERSION_THREE, "aliases": []}
    with serve_stub() as stub:
        stub.on("model-versions/search", answer(200, {"model_versions": [listed]}))
        aliases = [
            {"alias": "previous", "version": "3"},
            {"alias": "champion", "version": "3"},
            {"alias": "candidate", "version": "4"},
        ]
        stub.on("registered-models/get", answer(200, {"registered_model": {"aliases": aliases}}))
        stub.on("runs/get", answer(200, RUN))
        assert RestModelReader(stub.url, "M", timeout_s=5).list_versions() == [EXPECTED]
    assert stub.requests[1].query == {"name": "M"}


def test_a_model_without_versions_lists_none_without_asking_for_its_aliases() -> None:
    with serve_stub() as stub:
        stub.on("model-versions/search", answer(200, {}))
        assert RestModelReader(stub.url, "M", timeout_s=5).list_versions() == []
    assert stub.paths() == [f"{API}model-versions/search"]


def test_a_quote_in_the_model_name_is_escaped_in_the_search_filter() -> None:
    with serve_stub() as stub:
        stub.on("model-versions/search", answer(200, {"model_versions": []}))
        RestModelReader(stub.url, "it's \\ M", timeout_s=5).list_versions()
    assert stub.requests[0].query["filter"] == "name = 'it\\'s \\\\ M'"


@pytest.mark.parametrize("suffix", ["/", "/mlflow", "/mlflow/"])
def test_a_tracking_uri_s_path_prefixes_every_request(suffix: str) -> None:
    """A server behind a reverse proxy under a path; a trailing slash is no empty segment."""
    prefix = suffix.rstrip("/")
    with serve_stub() as stub:
        stub.on(
            f"{prefix}{API}model-versions/get", answer(200, {"model_version": {"version": "1"}})
        )
        version = RestModelReader(stub.url + suffix, "M", timeout_s=5).get_version("1")
    assert version.version == "1"
    assert stub.paths() == [f"{prefix}{API}model-versions/get"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, tiny_classifier: SklearnClassifier) -> Path:
    """The two files a version may have: serving.npz and model.skops."""
    folder = tmp_path_factory.mktemp("rest-artifacts")
    model = hashed_linear_model(tiny_classifier)
    assert model is not None
    model.save(folder / FILE_NAME)
    skops_format.dump(tiny_classifier.pipeline, folder / "model.skops")
    return folder


def _served_version(
    download_uri: str | None, model_type: str = "tfidf-lr", **location: str
) -> list[tuple[str, Answer]]:
    """Version 1 (`location`: its storage_location and/or source) and its download URI."""
    tags = [{"key": "model_type", "value": model_type}]
    version = {"version": "1", "tags": tags, "storage_location": "mlflow-artifacts:/stored/m1"}
    version |= location
    return [
        ("model-versions/get", answer(200, {"model_version": version})),
        (
            "model-versions/get-download-uri",
            answer(200, {} if download_uri is None else {"artifact_uri": download_uri}),
        ),
    ]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_version_s_serving_file_is_downloaded_through_the_artifact_proxy(
    artifacts: Path, tiny_classifier: SklearnClassifier, chunked: bool
) -> None:
    body = (artifacts / FILE_NAME).read_bytes()
    with serve_stub() as stub:
        for path, reply in _served_version("mlflow-artifacts:/1/m1/"):
            stub.on(path, reply)
        stub.on(f"{ARTIFACTS}1/m1/{FILE_NAME}", Answer(200, body, len(body), chunked=chunked))
        loaded = RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert isinstance(loaded, HashedLinearClassifier)
    served, fitted = loaded.predict(TEXTS), tiny_classifier.predict(TEXTS)
    assert [p.label for p in served] == [p.label for p in fitted]
    # The serving file's sigmoid is rounded once, in float64, where scipy's float32 one rounds
    # more: up to two float32 steps apart (tests/integration/test_hashed_linear.py).
    for mine, theirs in zip(served, fitted, strict=True):
        assert mine.probabilities == pytest.approx(theirs.probabilities, rel=0, abs=2.0**-23)
    assert stub.requests[1].query == {"name": "M", "version": "1"}
    assert stub.paths()[-1] == f"{ARTIFACTS}1/m1/{FILE_NAME}"


@pytest.mark.parametrize(
    ("location", "folder"),
    [
        ({"source": "mlflow-artifacts:/source/m1"}, "stored/m1"),
        ({"storage_location": "", "source": "mlflow-artifacts:/source/m1"}, "source/m1"),
    ],
    ids=["storage-location-first", "else-source"],
)
def test_without_a_serving_file_the_skops_file_is_downloaded(
    artifacts: Path, tiny_classifier: SklearnClassifier, location: dict[str, str], folder: str
) -> None:
    """No download URI answered: where the version records its files (as MLflow does)."""
    with serve_stub() as stub:
        for path, reply in _served_version(None, **location):
            stub.on(path, reply)
        skops = Answer(200, (artifacts / "model.skops").read_bytes())
        stub.on(f"{ARTIFACTS}{folder}/model.skops", skops)
        loaded = RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert isinstance(loaded, SklearnClassifier)
    assert loaded.model_type == "tfidf-lr"  # the version's tag
    assert loaded.predict(TEXTS) == tiny_classifier.predict(TEXTS)
    assert stub.paths()[-2:] == [
        f"{ARTIFACTS}{folder}/{FILE_NAME}",
        f"{ARTIFACTS}{folder}/model.skops",
    ]


def test_a_skops_file_of_a_version_without_a_type_tag_loads_as_its_steps_show(
    artifacts: Path, tiny_classifier: SklearnClassifier
) -> None:
    with serve_stub() as stub:
        for path, reply in _served_version(None, model_type="nblr-ctx"):
            stub.on(path, reply)
        stub.on(
            f"{ARTIFACTS}stored/m1/model.skops",
            Answer(200, (artifacts / "model.skops").read_bytes()),
        )
        with pytest.raises(ModelLoadError, match="the pipeline is a tfidf-lr model, not nblr-ctx"):
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    with serve_stub() as stub:
        for path, reply in _served_version(None, model_type=""):  # as good as no tag
            stub.on(path, reply)
        stub.on(
            f"{ARTIFACTS}stored/m1/model.skops",
            Answer(200, (artifacts / "model.skops").read_bytes()),
        )
        loaded = RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert isinstance(loaded, SklearnClassifier)
    assert loaded.model_type == tiny_classifier.model_type == "tfidf-lr"


@pytest.mark.parametrize("prefix", ["", "/mlflow"])
def test_an_artifact_uri_naming_its_server_is_downloaded_from_that_server(
    artifacts: Path, prefix: str
) -> None:
    """`mlflow-artifacts://host:port/path`: the artifact proxy at host:port, not the tracking
    server; under the tracking URI's path, as MLflow resolves it (`resolve_uri`)."""
    with serve_stub() as tracking, serve_stub() as proxy:
        netloc = proxy.url.removeprefix("http://")
        for path, reply in _served_version(f"mlflow-artifacts://{netloc}/a/m1"):
            tracking.on(f"{prefix}{API}{path}", reply)
        serving = Answer(200, (artifacts / FILE_NAME).read_bytes())
        proxy.on(f"{prefix}{ARTIFACTS}a/m1/{FILE_NAME}", serving)
        loaded = RestModelReader(tracking.url + prefix, "M", timeout_s=5).load("1")
    assert isinstance(loaded, HashedLinearClassifier)
    assert proxy.paths() == [f"{prefix}{ARTIFACTS}a/m1/{FILE_NAME}"]
    assert not any(ARTIFACTS in seen.path for seen in tracking.requests)


@pytest.mark.parametrize("form", ["file-uri", "localhost", "path"])
def test_an_artifact_in_a_local_folder_is_read_where_it_is(artifacts: Path, form: str) -> None:
    uri = {
        "file-uri": artifacts.as_uri(),
        "localhost": artifacts.as_uri().replace("file://", "file://localhost", 1),
        "path": str(artifacts),
    }[form]
    with serve_stub() as stub:
        for path, reply in _served_version(uri):
            stub.on(path, reply)
        loaded = RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert isinstance(loaded, HashedLinearClassifier)
    assert not any(seen.path.startswith(ARTIFACTS) for seen in stub.requests)


@pytest.mark.parametrize(
    ("reply", "expected", "message"),
    [
        (mlflow_error(403, "PERMISSION_DENIED", "no READ"), RegistryError, "no READ"),
        (Answer(502, b"bad gateway"), RegistryUnavailableError, "the MLflow server answered 502"),
    ],
    ids=["403", "502"],
)
def test_a_download_refused_is_not_a_missing_file(
    reply: Answer, expected: type[RegistryError], message: str
) -> None:
    """Only a 404 means "no such file" (then the skops file is tried)."""
    with serve_stub() as stub:
        for path, answered in _served_version("mlflow-artifacts:/m1"):
            stub.on(path, answered)
        stub.on(f"{ARTIFACTS}m1/{FILE_NAME}", reply)
        with pytest.raises(RegistryError) as raised:
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert type(raised.value) is expected
    assert str(raised.value) == f"download {FILE_NAME}: {message}"
    assert f"{ARTIFACTS}m1/model.skops" not in stub.paths()


def test_a_version_that_is_no_number_is_not_found_without_asking_the_server() -> None:
    with serve_stub() as stub:
        stub.on("model-versions/get", answer(200, {"model_version": {"version": "1"}}))
        reader = RestModelReader(stub.url, "M", timeout_s=5)
        for call in (reader.get_version, reader.load):
            with pytest.raises(ModelNotFoundError, match=r"M has no version 'v1\.0'"):
                call("v1.0")
    assert stub.requests == []


def test_a_skops_file_of_a_model_type_this_version_does_not_know_is_a_load_error(
    artifacts: Path,
) -> None:
    with serve_stub() as stub:
        for path, reply in _served_version("mlflow-artifacts:/m1", model_type="no-such-type"):
            stub.on(path, reply)
        stub.on(f"{ARTIFACTS}m1/model.skops", Answer(200, (artifacts / "model.skops").read_bytes()))
        with pytest.raises(ModelLoadError, match=r"^models:/M/1: "):
            RestModelReader(stub.url, "M", timeout_s=5).load("1")


@pytest.mark.parametrize("alias", ["latest", "3", "v3", "-x"])
def test_an_alias_that_is_no_alias_is_refused_without_asking_the_server(alias: str) -> None:
    with serve_stub() as stub:
        stub.on("registered-models/alias", answer(200, {"model_version": {"version": "1"}}))
        with pytest.raises(RegistryInputError, match="invalid alias"):
            RestModelReader(stub.url, "M", timeout_s=5).get_by_alias(alias)
    assert stub.requests == []


def test_an_artifact_proxy_that_is_away_is_unavailable() -> None:
    away = f"127.0.0.1:{free_port()}"
    with serve_stub() as stub:
        for path, reply in _served_version(f"mlflow-artifacts://{away}/m1"):
            stub.on(path, reply)
        with pytest.raises(RegistryUnavailableError) as raised:
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert str(raised.value) == f"download {FILE_NAME}: the MLflow server is unreachable"


@pytest.mark.skipif(
    importlib.util.find_spec("botocore") is not None, reason="reads s3:// with botocore installed"
)
def test_a_version_in_a_store_only_mlflow_reads_is_loaded_through_mlflow_s_client() -> None:
    """An s3:// download URI: MLflow's client asks the server again and reads the store (here
    it cannot: boto3 is not installed, which is the error it reports)."""
    s3 = "s3://sentiment-none/m"
    with serve_stub() as stub:
        version = {"name": "M", "version": "1", "storage_location": s3, "status": "READY"}
        stub.on("model-versions/get", answer(200, {"model_version": version}))
        stub.on("model-versions/get-download-uri", answer(200, {"artifact_uri": s3}))
        stub.on("registered-models/get", answer(200, {"registered_model": {"name": "M"}}))
        with pytest.raises(ModelLoadError, match="needs the package botocore"):
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert f"{API}registered-models/get" in stub.paths()  # MLflow's client, not the reader


def test_a_version_without_a_recorded_location_is_a_load_error() -> None:
    """Neither a download URI, a storage location nor a source: nothing to read (not the
    working directory, as the relative path "" would be)."""
    with serve_stub() as stub:
        for path, reply in _served_version(None, storage_location=""):
            stub.on(path, reply)
        with pytest.raises(ModelLoadError, match="records no location"):
            RestModelReader(stub.url, "M", timeout_s=5).load("1")
    assert not any(seen.path.startswith(ARTIFACTS) for seen in stub.requests)

"""A client of `mlflow models serve` switches to this API without a change: the same requests to
/invocations get the same answers from both, on the same registered version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.api.conftest import Api, Store
from tests.support.local_http import free_port
from tests.support.processes import VENV_BIN, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.mlflow_server]

TEXTS = ["A wonderful film, I loved it!", "Boring and far too long.", "Superb acting 😀", "meh"]
REQUESTS: dict[str, Any] = {
    "inputs": {"inputs": TEXTS},
    "instances": {"instances": TEXTS},
    "dataframe_split": {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}},
    "dataframe_split with index": {
        "dataframe_split": {
            "index": [0, 1, 2, 3],
            "columns": ["text"],
            "data": [[t] for t in TEXTS],
        }
    },
    "dataframe_records": {"dataframe_records": [{"text": t} for t in TEXTS]},
    "with params": {"inputs": TEXTS, "params": {}},
}


@pytest.fixture(scope="module")
def mlflow_serve(trained_store: Store) -> Iterator[str]:
    port = free_port()
    model = (
        f"models:/{trained_store.trained['model_name']}/{trained_store.trained['model_version']}"
    )
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    url = f"http://127.0.0.1:{port}"
    log = trained_store.root / "mlflow-serve.log"
    with running_server(
        command, f"{url}/ping", log, env=trained_store.env(), cwd=trained_store.root, timeout_s=240
    ):
        yield url


@pytest.mark.parametrize("name", list(REQUESTS))
def test_invocations_answer_as_mlflow_models_serve_does(
    api: Api, mlflow_serve: str, name: str
) -> None:
    theirs = httpx.post(f"{mlflow_serve}/invocations", json=REQUESTS[name], timeout=60)
    ours = httpx.post(f"{api.url}/invocations", json=REQUESTS[name], timeout=60)
    assert theirs.status_code == ours.status_code == 200, (theirs.text, ours.text)
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    assert ours.json() == theirs.json()
    assert len(ours.json()["predictions"]) == len(TEXTS)


@pytest.mark.parametrize(
    "body",
    [{"foo": ["x"]}, {"inputs": ["x"], "instances": ["x"]}, {"inputs": "not a list"}],
    ids=["no input key", "two input keys", "inputs not a list"],
)
def test_both_refuse_malformed_requests_with_a_4xx(api: Api, mlflow_serve: str, body: Any) -> None:
    theirs = httpx.post(f"{mlflow_serve}/invocations", json=body, timeout=60)
    ours = httpx.post(f"{api.url}/invocations", json=body, timeout=60)
    assert 400 <= theirs.status_code < 500
    assert 400 <= ours.status_code < 500


def test_both_answer_ping(api: Api, mlflow_serve: str) -> None:
    assert httpx.get(f"{mlflow_serve}/ping").status_code == 200
    assert httpx.get(f"{api.url}/ping").status_code == 200

"""`RestModelReader`: an `http(s)://` MLflow tracking server read through its REST API and
artifact proxy with urllib (see `mlflow_reader`)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sentiment.adapters.mlflow_reader import (
    FoundVersion,
    LeanReader,
    UnsupportedStoreError,
    local_file,
    local_path,
)
from sentiment.domain.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
)
from sentiment.domain.model import READY, ModelVersion


class RestModelReader(LeanReader):
    """An MLflow tracking server, through its REST API and its artifact proxy (urllib)."""

    def __init__(self, tracking_uri: str, model_name: str, timeout_s: float = 10.0) -> None:
        super().__init__(tracking_uri, model_name)
        parsed = urllib.parse.urlparse(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RegistryError(f"not an http(s) tracking URI: {tracking_uri!r}")
        self._base = tracking_uri.rstrip("/")
        self._scheme = parsed.scheme
        self._timeout_s = timeout_s

    # -- HTTP ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "sentiment-lean-reader"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        return headers

    def _get(self, endpoint: str, what: str, **params: str) -> dict[str, Any]:
        """GET /api/2.0/mlflow/<endpoint> as JSON, errors translated."""
        url = f"{self._base}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers=self._headers())  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(what, exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnavailableError(f"{what}: the MLflow server is unreachable") from exc
        except http.client.HTTPException as exc:  # an answer cut short (IncompleteRead)...
            raise _broken_off(what, exc) from exc
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise RegistryError(f"{what}: the server did not answer JSON") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{what}: unexpected answer")
        return data

    # -- lookups ------------------------------------------------------------------------------

    def _version(self, number: str) -> FoundVersion:
        data = self._get(
            "model-versions/get",
            f"{self._model_name} version {number}",
            name=self._model_name,
            version=number,
        )
        return self._build(data.get("model_version") or {})

    def _alias(self, alias: str) -> FoundVersion:
        data = self._get(
            "registered-models/alias",
            f"{self._model_name}@{alias}",
            name=self._model_name,
            alias=alias,
        )
        return self._build(data.get("model_version") or {})

    def _build(
        self, mv: object, aliases_by_version: Mapping[str, list[str]] | None = None
    ) -> FoundVersion:
        """A model version as the server answered it; `aliases_by_version` instead of its own
        `aliases` (which a search leaves empty)."""
        if not isinstance(mv, Mapping) or not mv.get("version"):
            raise RegistryError(f"{self._model_name}: the server answered no model version")
        version = str(mv["version"])
        run_id = str(mv.get("run_id") or "")
        status, metrics = self._run(run_id)
        with _reading_answer(f"{self._model_name} version {version}"):
            tags = {str(t.get("key")): str(t.get("value", "")) for t in mv.get("tags") or ()}
            aliases = (
                mv.get("aliases") if aliases_by_version is None else aliases_by_version.get(version)
            )
            info = ModelVersion(
                name=str(mv.get("name") or self._model_name),
                version=version,
                run_id=run_id,
                aliases=tuple(sorted(str(a) for a in aliases or ())),
                tags=tags,
                metrics=metrics,
                dataset_digest=tags.get("dataset_digest", ""),
                created_at=int(mv.get("creation_timestamp") or 0) / 1000.0,
                run_status=status,
                status=str(mv.get("status") or READY),
            )
            return FoundVersion(info, str(mv.get("storage_location") or mv.get("source") or ""))

    def _run(self, run_id: str) -> tuple[str, dict[str, float]]:
        if not run_id:
            return "", {}
        try:
            data = self._get("runs/get", f"run {run_id}", run_id=run_id)
        except ModelNotFoundError:  # a deleted run leaves the version usable
            return "", {}
        with _reading_answer(f"run {run_id}"):
            run = data.get("run") or {}
            metrics = {
                str(m.get("key")): float(m.get("value", "nan"))
                for m in (run.get("data") or {}).get("metrics") or ()
            }
            return str((run.get("info") or {}).get("status") or ""), metrics

    def list_versions(self) -> list[ModelVersion]:
        found: list[object] = []
        token = ""
        while True:
            params = {"filter": f"name = '{_quoted(self._model_name)}'", "max_results": "1000"}
            if token:
                params["page_token"] = token
            what = f"versions of {self._model_name}"
            data = self._get("model-versions/search", what, **params)
            with _reading_answer(what):
                found.extend(data.get("model_versions") or ())
            token = str(data.get("next_page_token") or "")
            if not token:
                break
        if not found:
            return []
        # The search leaves `aliases` empty: read them from the registered model.
        what = f"aliases of {self._model_name}"
        registered = self._get("registered-models/get", what, name=self._model_name)
        by_version: dict[str, list[str]] = {}
        with _reading_answer(what):
            for entry in (registered.get("registered_model") or {}).get("aliases") or ():
                by_version.setdefault(str(entry.get("version")), []).append(str(entry.get("alias")))
        versions = [self._build(mv, by_version).info for mv in found]
        with _reading_answer(f"versions of {self._model_name}"):
            return sorted(versions, key=lambda v: int(v.version))

    def _download_uri(self, found: FoundVersion) -> str:
        number = found.info.version
        data = self._get(
            "model-versions/get-download-uri",
            f"download URI of {self._model_name} version {number}",
            name=self._model_name,
            version=number,
        )
        return str(data.get("artifact_uri") or found.artifact_uri)

    def _fetch(self, artifact_uri: str, name: str, destination: Path) -> Path | None:
        parsed = urllib.parse.urlparse(artifact_uri)
        if parsed.scheme != "mlflow-artifacts":
            folder = local_path(artifact_uri)
            if folder is None:
                raise UnsupportedStoreError(artifact_uri)
            return local_file(folder, name)
        base = self._base
        if parsed.netloc:  # another host, under the tracking URI's path (as MLflow resolves it)
            base = f"{self._scheme}://{parsed.netloc}{urllib.parse.urlparse(self._base).path}"
        path = urllib.parse.quote(f"{parsed.path.strip('/')}/{name}")
        url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{path}"
        request = urllib.request.Request(url, headers=self._headers())  # noqa: S310
        target = destination / name
        try:
            with (
                urllib.request.urlopen(request, timeout=self._timeout_s) as response,  # noqa: S310
                target.open("wb") as handle,
            ):
                shutil.copyfileobj(response, handle, 1 << 20)
                announced = str(response.headers.get("Content-Length") or "")
                received = handle.tell()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise _http_error(f"download {name}", exc) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryUnavailableError(
                f"download {name}: the MLflow server is unreachable"
            ) from exc
        except http.client.HTTPException as exc:
            raise _broken_off(f"download {name}", exc) from exc
        # Read in chunks, a body shorter than its Content-Length just ends (no IncompleteRead).
        if announced.isdigit() and received < int(announced):
            raise RegistryUnavailableError(
                f"download {name}: the MLflow server's answer broke off after {received} of "
                f"{announced} bytes"
            )
        return target


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def _reading_answer(what: str) -> Iterator[None]:
    """Reading the fields of a server's JSON answer: one of another type than MLflow's (a
    list for an object, text for a number) is a RegistryError, not Python's own error."""
    try:
        yield
    except (AttributeError, TypeError, ValueError) as exc:
        raise RegistryError(f"{what}: unexpected answer ({exc})") from exc


def _broken_off(what: str, exc: http.client.HTTPException) -> RegistryUnavailableError:
    """An exchange http.client gave up on: an answer shorter than announced, or not HTTP at
    all. Not an OSError, so urllib lets it through as it is."""
    return RegistryUnavailableError(
        f"{what}: the MLflow server's answer broke off ({type(exc).__name__})"
    )


def _http_error(what: str, exc: urllib.error.HTTPError) -> RegistryError:
    """An MLflow REST error as a domain error (by its status alone if its body is unreadable)."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError, http.client.HTTPException):
        body = {}
    code = str(body.get("error_code", "")) if isinstance(body, dict) else ""
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    not_found = code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        code == "INVALID_PARAMETER_VALUE" and message.rstrip(".").endswith("not found")
    )
    if not_found or (exc.code == 404 and not code):
        return ModelNotFoundError(f"{what}: not found")
    if exc.code >= 500 or exc.code in (408, 429):
        return RegistryUnavailableError(f"{what}: the MLflow server answered {exc.code}")
    first = message.splitlines()[0] if message else f"HTTP {exc.code}"
    return RegistryError(f"{what}: {first}")

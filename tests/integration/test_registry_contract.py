"""The ModelRegistry contract, held by both adapters: InMemoryModelRegistry and MlflowModelRegistry.

Versions are "1", "2"... in order; aliases are identifiers that never look like a version; tags
merge; anything missing is ModelNotFoundError.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.errors import ModelNotFoundError, RegistryError
from sentiment.domain.model import DatasetInfo
from sentiment.domain.ports import ModelRegistry

DATASET = DatasetInfo("toy", "memory://toy", "d1g3st", 300, 0, {"negative": 150, "positive": 150})


def register_two_versions(registry: ModelRegistry, classifier: SklearnClassifier) -> list[str]:
    run_ids = []
    for _ in range(2):
        with registry.start_run() as run:
            run.log_dataset(DATASET)
            run.register(classifier)
            run_ids.append(run.run_id)
    return run_ids


@pytest.fixture(scope="module", params=["memory", "mlflow"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(kind: str, mlflow_db: Path, artifacts: Path, name: str) -> ModelRegistry:
    if kind == "memory":
        return InMemoryModelRegistry(model_name=name)
    return MlflowModelRegistry(
        tracking_uri=f"sqlite:///{mlflow_db}",
        experiment_name=f"contract-{name}",
        model_name=name,
        artifact_root=str(artifacts),
        cache_dir=artifacts.parent / "downloads",
    )


@pytest.fixture(scope="module")
def two_versions(
    kind: str,
    mlflow_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
    fitted_classifier: SklearnClassifier,
) -> Iterator[tuple[ModelRegistry, list[str]]]:
    """A registry holding versions 1 and 2 of `ContractModel`. Tests use aliases of their own."""
    artifacts = tmp_path_factory.mktemp(f"contract-{kind}") / "artifacts"
    registry = make(kind, mlflow_db, artifacts, "ContractModel")
    yield registry, register_two_versions(registry, fitted_classifier)
    mlflow.end_run()


@pytest.fixture
def registry(two_versions: tuple[ModelRegistry, list[str]]) -> ModelRegistry:
    return two_versions[0]


def test_versions_are_numbered_in_order(two_versions: tuple[ModelRegistry, list[str]]) -> None:
    registry, run_ids = two_versions
    versions = registry.list_versions()
    assert [v.version for v in versions] == ["1", "2"]
    assert [v.run_id for v in versions] == run_ids
    assert all(v.name == "ContractModel" for v in versions)
    assert all(v.dataset_digest == "d1g3st" for v in versions)
    assert registry.latest_version().version == "2"
    assert registry.get_version("1").run_id == run_ids[0]
    assert registry.model_name == "ContractModel"


@pytest.mark.parametrize("version", ["3", "0", "-1", "abc", "", "1.0"])
def test_a_missing_version_is_not_found(registry: ModelRegistry, version: str) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.get_version(version)
    with pytest.raises(ModelNotFoundError):
        registry.load(version)


def test_an_alias_points_at_one_version_and_moves(registry: ModelRegistry) -> None:
    registry.set_alias("moving", "1")
    assert registry.get_by_alias("moving").version == "1"
    assert "moving" in registry.get_version("1").aliases
    assert "moving" in registry.list_versions()[0].aliases

    registry.set_alias("moving", "2")
    assert registry.get_by_alias("moving").version == "2"
    assert "moving" not in registry.get_version("1").aliases
    assert "moving" in registry.latest_version().aliases

    registry.delete_alias("moving")
    with pytest.raises(ModelNotFoundError):
        registry.get_by_alias("moving")
    with pytest.raises(ModelNotFoundError):
        registry.delete_alias("moving")


def test_two_aliases_on_one_version(registry: ModelRegistry) -> None:
    registry.set_alias("alpha", "2")
    registry.set_alias("beta", "2")
    assert {"alpha", "beta"} <= set(registry.get_version("2").aliases)
    registry.delete_alias("alpha")
    registry.delete_alias("beta")
    assert not {"alpha", "beta"} & set(registry.get_version("2").aliases)


def test_an_unknown_alias_is_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.get_by_alias("nobody")


def test_an_alias_on_a_missing_version_is_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("orphan", "9")


@pytest.mark.parametrize("alias", ["v3", "V12", "3", "has space", "", "-dash", "a/b"])
def test_invalid_aliases_are_refused(registry: ModelRegistry, alias: str) -> None:
    with pytest.raises(RegistryError, match="invalid alias") as caught:
        registry.set_alias(alias, "1")
    assert not isinstance(caught.value, ModelNotFoundError)


def test_tags_merge_and_overwrite(registry: ModelRegistry) -> None:
    registry.set_tags("1", {"reviewed": "no", "owner": "ml"})
    registry.set_tags("1", {"reviewed": "yes"})
    tags = registry.get_version("1").tags
    assert tags["reviewed"] == "yes"
    assert tags["owner"] == "ml"
    assert "reviewed" not in registry.get_version("2").tags


def test_tags_on_a_missing_version_are_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.set_tags("9", {"a": "b"})


def test_a_loaded_version_predicts_like_the_registered_classifier(
    registry: ModelRegistry, fitted_classifier: SklearnClassifier
) -> None:
    texts = ["What a great film!", "Terrible, boring, awful."]
    loaded = registry.load("2")
    assert loaded.classes == fitted_classifier.classes
    for a, b in zip(loaded.predict(texts), fitted_classifier.predict(texts), strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-9)


def test_a_model_without_versions(kind: str, mlflow_db: Path, tmp_path: Path) -> None:
    registry = make(kind, mlflow_db, tmp_path / "artifacts", f"Unregistered{kind}")
    assert registry.list_versions() == []
    with pytest.raises(ModelNotFoundError):
        registry.latest_version()
    with pytest.raises(ModelNotFoundError):
        registry.get_by_alias("champion")
    with pytest.raises(ModelNotFoundError):
        registry.get_version("1")

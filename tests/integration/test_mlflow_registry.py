"""MlflowModelRegistry on a temporary SQLite store: what a training run leaves in MLflow."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from sentiment.adapters import skops_format
from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifier, SklearnClassifierFactory
from sentiment.application.gate_candidate import GateCandidate
from sentiment.application.train_model import (
    CHAMPION,
    TrainModel,
    TrainModelCommand,
    TrainModelResult,
)
from sentiment.domain.errors import RegistryError
from sentiment.domain.model import LabelledDataset, ParamValue
from sentiment.domain.ports import Classifier
from sentiment.domain.promotion import CHALLENGER, PromotionPolicy
from tests.conftest import TINY_HYPERPARAMETERS
from tests.support.port_fakes import KeywordClassifier, KeywordClassifierFactory

TEXTS = [
    "A wonderful, moving film. I loved every minute of it!",
    "Dreadful. The worst film I have seen in years, boring and stupid.",
    "It was fine.",
]


class RecordingFactory(SklearnClassifierFactory):
    """The real factory, keeping every classifier it made."""

    def __init__(self) -> None:
        self.created: list[Classifier] = []

    def create(
        self, model_type: str, hyperparameters: Mapping[str, ParamValue] | None = None
    ) -> Classifier:
        classifier = super().create(model_type, hyperparameters)
        self.created.append(classifier)
        return classifier


@dataclass
class Store:
    root: Path
    registry: MlflowModelRegistry
    client: MlflowClient
    dataset: LabelledDataset
    results: list[TrainModelResult]
    classifiers: list[Classifier]


def make_registry(
    db: Path,
    artifacts: Path,
    experiment: str = "sentiment-tests",
    model: str = "SentimentAnalysisModel",
) -> MlflowModelRegistry:
    return MlflowModelRegistry(
        tracking_uri=f"sqlite:///{db}",
        experiment_name=experiment,
        model_name=model,
        artifact_root=str(artifacts),
        cache_dir=artifacts.parent / "downloads",
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, mlflow_db: Path, small_csv: Path) -> Store:
    """Two training runs (tfidf-lr, then nblr) on the 300-row CSV: versions 1 and 2."""
    root = tmp_path_factory.mktemp("mlflow-store")
    registry = make_registry(mlflow_db, root / "artifacts")
    factory = RecordingFactory()
    # The gate: any first version passes a floor of 0.5; no later one beats a margin of 1.
    gate = GateCandidate(registry, PromotionPolicy(margin=1.0, floor=0.5))
    use_case = TrainModel(CsvDatasetSource(small_csv), factory, registry, gate=gate)
    results = [
        use_case.execute(TrainModelCommand("tfidf-lr", TINY_HYPERPARAMETERS, run_name="first")),
        use_case.execute(TrainModelCommand("nblr", TINY_HYPERPARAMETERS, run_name="second")),
    ]
    return Store(
        root=root,
        registry=registry,
        client=MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri),
        dataset=CsvDatasetSource(small_csv).load(),
        results=results,
        classifiers=factory.created,
    )


def test_the_runs_finish_and_register_versions_one_and_two(store: Store) -> None:
    assert [r.model_version for r in store.results] == ["1", "2"]
    assert [r.aliases for r in store.results] == [(CHAMPION,), (CHALLENGER,)]
    for result, name in zip(store.results, ["first", "second"], strict=True):
        run = store.client.get_run(result.run_id)
        assert run.info.status == "FINISHED"
        assert run.info.run_name == name
        experiment = store.client.get_experiment(run.info.experiment_id)
        assert experiment.name == "sentiment-tests"


def test_the_run_logs_every_param_and_metric(store: Store) -> None:
    result = store.results[0]
    run = store.client.get_run(result.run_id)
    assert run.data.params == {k: str(v) for k, v in result.params.items()}
    for key in ("dataset_size", "model_type", "test_size", "random_state", "hp_C", "hp_ngram_max"):
        assert key in run.data.params
    assert run.data.params["dataset_size"] == "300"
    assert run.data.params["model_type"] == "tfidf-lr"
    assert run.data.metrics == pytest.approx(dict(result.metrics))
    assert set(run.data.metrics) == {
        "accuracy",
        "f1_macro",
        *(f"{m}_{c}" for m in ("precision", "recall", "f1") for c in ("negative", "positive")),
    }
    assert run.data.tags["sentiment.run_kind"] == "training"


def test_the_metrics_are_stamped_with_the_time_of_the_run_in_milliseconds(store: Store) -> None:
    # MLflow's charts place a metric by its timestamp: epoch milliseconds, within the run.
    run = store.client.get_run(store.results[1].run_id)
    assert run.info.end_time is not None
    for key in run.data.metrics:
        [point] = store.client.get_metric_history(run.info.run_id, key)
        assert point.step == 0
        assert run.info.start_time - 1000 <= point.timestamp <= run.info.end_time, key


def test_the_run_logs_the_dataset_with_its_digest(store: Store, small_csv: Path) -> None:
    run = store.client.get_run(store.results[0].run_id)
    assert run.inputs is not None
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.digest == store.dataset.digest
    assert dataset.name == "small"
    assert str(small_csv.resolve()) in dataset.source
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}
    assert run.data.tags["dataset_digest"] == store.dataset.digest

    path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id,
        artifact_path="dataset/dataset.json",
        dst_path=str(store.root / "downloads"),
        tracking_uri=store.registry.tracking_uri,
    )
    info = json.loads(Path(path).read_text())
    assert info["digest"] == store.dataset.digest
    assert info["rows"] == 300
    assert info["dropped"] == 0
    assert info["class_counts"] == store.dataset.class_counts()


def download_run(store: Store, run_id: str, name: str) -> Path:
    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id,
            dst_path=str(store.root / "downloads" / name),
            tracking_uri=store.registry.tracking_uri,
        )
    )


def test_the_run_stores_metrics_confusion_matrix_and_vectorizer(store: Store) -> None:
    result = store.results[0]
    local = download_run(store, result.run_id, "run-1")
    assert sorted(p.name for p in local.iterdir()) == ["dataset", "metrics", "vectorizer"]

    metrics = json.loads((local / "metrics" / "metrics.json").read_text())
    assert metrics == result.evaluation.to_dict()
    matrix = json.loads((local / "metrics" / "confusion_matrix.json").read_text())
    assert matrix == {
        "labels": ["negative", "positive"],
        "matrix": [list(row) for row in result.evaluation.confusion_matrix],
    }
    assert sum(map(sum, matrix["matrix"])) == result.test_rows
    png = (local / "metrics" / "confusion_matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000

    vectorizer = skops_format.load(local / "vectorizer" / "vectorizer.skops")
    assert type(vectorizer).__name__ == "HashingVectorizer"
    assert vectorizer.n_features == 2**16


@pytest.mark.parametrize("uri", ["runs:/{run_id}/model", "models:/SentimentAnalysisModel/1"])
def test_the_model_is_stored_with_mlmodel_skops_signature_and_example(
    store: Store, uri: str
) -> None:
    result = store.results[0]
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri.format(run_id=result.run_id),
            dst_path=str(store.root / "downloads" / uri.split(":")[0]),
            tracking_uri=store.registry.tracking_uri,
        )
    )
    assert (local / "model.skops").is_file()
    assert skops_format.types_in(local / "model.skops") <= set(skops_format.TRUSTED_TYPES)
    mlmodel: dict[str, Any] = yaml.safe_load((local / "MLmodel").read_text())
    assert mlmodel["run_id"] == result.run_id
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert "python_function" in mlmodel["flavors"]
    assert mlmodel["metadata"] == {"model_type": "tfidf-lr"}
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert inputs == [{"type": "tensor", "tensor-spec": {"dtype": "str", "shape": [-1]}}]
    assert mlmodel["saved_input_example_info"]["type"] == "ndarray"
    requirements = (local / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements
    assert "skops==" in requirements


def test_the_versions_carry_run_metrics_tags_and_aliases(store: Store) -> None:
    versions = store.registry.list_versions()
    assert [v.version for v in versions] == ["1", "2"]
    for version, result in zip(versions, store.results, strict=True):
        assert version.name == "SentimentAnalysisModel"
        assert version.run_id == result.run_id
        assert version.metrics == pytest.approx(dict(result.metrics))
        assert version.dataset_digest == store.dataset.digest
        assert version.tags["model_type"] == result.params["model_type"]
        assert version.created_at > 0
    assert CHAMPION in versions[0].aliases
    assert CHAMPION not in versions[1].aliases
    assert store.registry.latest_version().version == "2"
    assert store.registry.get_by_alias(CHAMPION).version == "1"


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_loaded_version_predicts_exactly_as_the_trained_classifier(
    store: Store, version: str, holdout_dataset: LabelledDataset
) -> None:
    trained = store.classifiers[int(version) - 1]
    loaded = store.registry.load(version)
    assert isinstance(loaded, SklearnClassifier)
    assert loaded.model_type == trained.model_type
    assert loaded.classes == trained.classes
    texts = [*TEXTS, *holdout_dataset.texts[:20]]
    for a, b in zip(loaded.predict(texts), trained.predict(texts), strict=True):
        assert a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-9)


def test_the_registered_model_serves_through_mlflow_pyfunc(store: Store) -> None:
    import mlflow.pyfunc

    mlflow.set_registry_uri(store.registry.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/SentimentAnalysisModel/1")
    labels = list(model.predict(np.array(TEXTS[:2])))
    assert labels == [p.label for p in store.classifiers[0].predict(TEXTS[:2])]
    assert labels == ["positive", "negative"]


# -- failures -----------------------------------------------------------------------------------


@dataclass
class Scratch:
    registry: MlflowModelRegistry
    experiment: str
    artifacts: Path

    def runs(self) -> list[Any]:
        found = self.registry.client.get_experiment_by_name(self.experiment)
        assert found is not None
        return list(self.registry.client.search_runs([found.experiment_id]))


@pytest.fixture
def scratch(mlflow_db: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Scratch]:
    """An experiment and a registered model of this test's own, in the shared store."""
    name = request.node.name.replace("[", "-").replace("]", "")
    artifacts = tmp_path / "artifacts"
    registry = make_registry(mlflow_db, artifacts, f"exp-{name}", f"model-{name}")
    yield Scratch(registry, f"exp-{name}", artifacts)
    mlflow.end_run()  # never leave an active run behind for the next test


def test_an_exception_inside_the_run_marks_it_failed(scratch: Scratch) -> None:
    started: list[str] = []

    def doomed_run() -> None:
        with scratch.registry.start_run("doomed") as run:
            started.append(run.run_id)
            run.log_params({"a": 1})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        doomed_run()
    [failed] = scratch.runs()
    assert [failed.info.run_id] == started
    assert failed.info.status == "FAILED"
    assert failed.data.params == {"a": "1"}


def test_an_unexpected_failure_while_training_marks_the_run_failed(
    scratch: Scratch, small_dataset: LabelledDataset
) -> None:
    from tests.support.port_fakes import InMemoryDatasetSource

    factory = KeywordClassifierFactory(
        lambda hp: KeywordClassifier(hp, fail_with=MemoryError("no room"))
    )
    use_case = TrainModel(InMemoryDatasetSource(small_dataset), factory, scratch.registry)
    with pytest.raises(MemoryError):
        use_case.execute(TrainModelCommand("keyword"))
    [failed] = scratch.runs()
    assert failed.info.status == "FAILED"
    assert failed.data.params["model_type"] == "keyword"
    assert failed.data.metrics == {}
    assert scratch.registry.list_versions() == []


def test_registering_a_classifier_it_cannot_store_fails_the_run(
    scratch: Scratch,
) -> None:
    classifier = KeywordClassifier()
    classifier.fit(["good", "bad"], ["pos", "neg"])

    def register() -> None:
        with scratch.registry.start_run() as run:
            run.register(classifier)

    with pytest.raises(
        RegistryError, match="stores scikit-learn classifiers, not KeywordClassifier"
    ):
        register()
    assert [r.info.status for r in scratch.runs()] == ["FAILED"]
    assert scratch.registry.list_versions() == []


@pytest.mark.parametrize("before", [None, "http://127.0.0.1:9/elsewhere"])
def test_a_run_leaves_the_process_mlflow_uris_as_it_found_them(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch, before: str | None
) -> None:
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        if before is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, before)

    with scratch.registry.start_run("tidy") as run:
        run.log_params({"a": 1})

    assert os.environ.get("MLFLOW_TRACKING_URI") == before
    assert os.environ.get("MLFLOW_REGISTRY_URI") == before
    [finished] = scratch.runs()
    assert finished.info.status == "FINISHED"


def test_a_run_of_another_adapter_lands_in_the_experiment_it_finds(scratch: Scratch) -> None:
    """A second process (a later `train`) finds the experiment the first one made."""
    with scratch.registry.start_run("first"):
        pass
    later = MlflowModelRegistry(
        tracking_uri=scratch.registry.tracking_uri,
        experiment_name=scratch.experiment,
        model_name=scratch.registry.model_name,
        artifact_root=str(scratch.artifacts),
    )
    with later.start_run("second"):
        pass
    assert sorted(run.info.run_name for run in scratch.runs()) == ["first", "second"]

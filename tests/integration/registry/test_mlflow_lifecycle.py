"""The registry lifecycle on MLflow itself (SQLite store): what lands in MLflow's runs and tags,
and how the adapter behaves when the server is away or an artifact is gone."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.mlflow_sqlite_reader import SqliteModelReader
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.application.describe_model import DescribeModel, DescribeModelCommand
from sentiment.application.evaluate_model import EvaluateModel, EvaluateModelCommand
from sentiment.application.gate_candidate import GateCandidate, GateCandidateCommand
from sentiment.application.promote_model import PromoteModel, PromoteModelCommand
from sentiment.application.registry_ops import score
from sentiment.application.rollback_champion import RollbackChampion, RollbackChampionCommand
from sentiment.domain.errors import (
    ModelLoadError,
    PromotionRefusedError,
    RegistryUnavailableError,
)
from sentiment.domain.model import READY
from sentiment.domain.model_ref import parse_model_ref
from sentiment.domain.promotion import CHALLENGER, CHAMPION, PromotionPolicy
from tests.integration.registry.conftest import mlflow_registry
from tests.support.data import sample_rows, to_dataset
from tests.support.local_http import free_port
from tests.support.port_fakes import InMemoryDatasetSource

HOLDOUT = to_dataset(sample_rows(120, seed=5), "holdout")
POLICY = PromotionPolicy(margin=0.0, floor=0.5)


def fitted(n_features_log2: int) -> SklearnClassifier:
    rows = sample_rows(240, seed=3)
    classifier = SklearnClassifier("tfidf-lr", {"n_features_log2": n_features_log2})
    classifier.fit([t for t, _ in rows], [y for _, y in rows])
    return classifier


def add_version(registry: MlflowModelRegistry, classifier: SklearnClassifier) -> str:
    with registry.start_run() as run:
        run.log_evaluation(score(classifier, HOLDOUT))
        return run.register(classifier).version


def artifact_folder(store: Path, registry: MlflowModelRegistry, version: str) -> Path:
    source = registry.client.get_model_version(registry.model_name, version).source
    folder = store / "artifacts" / "models" / str(source).removeprefix("models:/")
    assert (folder / "artifacts" / "model.skops").is_file(), folder
    return folder


@pytest.fixture(scope="module")
def good_and_weak() -> tuple[SklearnClassifier, SklearnClassifier]:
    return fitted(16), fitted(3)


def test_gate_promote_rollback_are_recorded_in_mlflow_tags(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "Lifecycle")
    good, weak = good_and_weak
    gate = GateCandidate(registry, POLICY)
    for classifier in (good, weak):
        version = add_version(registry, classifier)
        gate.execute(GateCandidateCommand(version, HOLDOUT, actor="ci"))
    assert registry.get_by_alias(CHAMPION).version == "1"
    assert registry.get_by_alias(CHALLENGER).version == "2"

    PromoteModel(registry, POLICY).execute(
        PromoteModelCommand(parse_model_ref("@challenger"), "try it", "alice")
    )
    rolled = RollbackChampion(registry).execute(RollbackChampionCommand("it was worse", "bob"))
    assert (rolled.from_version, rolled.to_version) == ("2", "1")

    # A fresh adapter (another process, say) reads the same history back from MLflow.
    history = DescribeModel(mlflow_registry(sqlite_store, "Lifecycle")).execute(
        DescribeModelCommand()
    )
    assert [(e.alias, e.version, e.action, e.previous) for e in history.history] == [
        (CHAMPION, "1", "gate", None),
        (CHALLENGER, "2", "gate", None),
        (CHAMPION, "2", "promote", "1"),
        (CHAMPION, "1", "rollback", "2"),
    ]
    tags = MlflowClient(registry.tracking_uri).get_model_version("Lifecycle", "1").tags
    assert tags["champion.action"] == "rollback"
    assert tags["champion.reason"] == "it was worse"
    assert tags["champion.by"] == "bob"
    assert tags["champion.previous"] == "2"


def test_a_long_reason_in_any_script_is_recorded_whole_in_mlflow(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    # 1000 Cyrillic letters: 6000 characters once JSON escapes them, over a tag's 5000.
    reason = "откат " * 166 + "стоп"
    registry = mlflow_registry(sqlite_store, "Cyrillic")
    for classifier in good_and_weak:
        add_version(registry, classifier)
    PromoteModel(registry, POLICY).execute(PromoteModelCommand(parse_model_ref("2"), reason))
    assert registry.get_by_alias(CHAMPION).version == "2"

    history = DescribeModel(mlflow_registry(sqlite_store, "Cyrillic")).execute(
        DescribeModelCommand()
    )
    assert [(e.version, e.reason) for e in history.history] == [("2", reason)]
    tags = MlflowClient(registry.tracking_uri).get_model_version("Cyrillic", "2").tags
    assert tags["champion.reason"] == reason


def test_an_evaluation_run_is_linked_both_ways(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "Evaluated")
    add_version(registry, good_and_weak[0])
    registry.set_alias(CHAMPION, "1")
    result = EvaluateModel(registry, InMemoryDatasetSource(HOLDOUT)).execute(
        EvaluateModelCommand(parse_model_ref("@champion"), log=True)
    )
    client = MlflowClient(registry.tracking_uri)
    run = client.get_run(result.evaluation_run_id or "")
    assert run.info.status == "FINISHED"
    assert run.data.tags["sentiment.run_kind"] == "evaluation"
    assert run.data.tags["sentiment.model_version"] == "1"
    assert run.data.tags["sentiment.training_run_id"] == result.training_run_id
    assert run.data.metrics["f1_macro"] == pytest.approx(result.evaluation.macro_f1)
    assert run.inputs is not None
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == HOLDOUT.digest
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "evaluation"
    assert client.get_model_version("Evaluated", "1").tags["evaluation.run_id"] == run.info.run_id
    assert [v.version for v in registry.list_versions()] == ["1"]


def test_a_missing_artifact_is_a_load_error_and_the_gate_falls_back_to_the_floor(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "LostArtifact")
    good, weak = good_and_weak
    add_version(registry, good)
    GateCandidate(registry, POLICY).execute(GateCandidateCommand("1", HOLDOUT))
    shutil.rmtree(artifact_folder(sqlite_store, registry, "1"))
    with pytest.raises(ModelLoadError, match="artifacts are missing"):
        registry.load("1")
    add_version(registry, weak)
    result = GateCandidate(registry, POLICY).execute(GateCandidateCommand("2", HOLDOUT))
    assert result.promoted
    assert "champion v1 could not be scored" in result.reason


def test_an_emptied_artifact_folder_is_a_load_error(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "EmptiedArtifact")
    add_version(registry, good_and_weak[0])
    files = artifact_folder(sqlite_store, registry, "1") / "artifacts"
    shutil.rmtree(files)
    files.mkdir()
    with pytest.raises(ModelLoadError, match="artifacts are missing from the artifact store"):
        registry.load("1")


def test_a_corrupt_artifact_is_a_load_error(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "CorruptArtifact")
    add_version(registry, good_and_weak[0])
    model_file = artifact_folder(sqlite_store, registry, "1") / "artifacts" / "model.skops"
    model_file.write_bytes(b"not a zip file")
    with pytest.raises(ModelLoadError, match="cannot read model file"):
        registry.load("1")


def test_a_model_folder_without_its_model_skops_is_a_load_error(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "NoSkops")
    add_version(registry, good_and_weak[0])
    files = artifact_folder(sqlite_store, registry, "1") / "artifacts"
    (files / "model.skops").unlink()
    assert (files / "MLmodel").is_file()  # the rest is there: not "artifacts are missing"
    with pytest.raises(ModelLoadError, match=r"has no model\.skops"):
        registry.load("1")


def test_a_version_of_a_model_type_this_code_does_not_know_is_a_load_error(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    registry = mlflow_registry(sqlite_store, "UnknownType")
    add_version(registry, good_and_weak[0])
    mlmodel = artifact_folder(sqlite_store, registry, "1") / "artifacts" / "MLmodel"
    recorded = mlmodel.read_text()
    assert "model_type: tfidf-lr" in recorded
    mlmodel.write_text(recorded.replace("model_type: tfidf-lr", "model_type: tfidf-svm"))
    with pytest.raises(ModelLoadError, match="unknown model type 'tfidf-svm'"):
        registry.load("1")


@pytest.mark.parametrize(
    "mlmodel",
    [None, "{not: [yaml", "- a list\n", "metadata: [model_type, nblr-ctx]\n"],
    ids=["missing", "not-yaml", "not-a-mapping", "metadata-not-a-mapping"],
)
def test_a_version_whose_mlmodel_is_missing_or_unreadable_loads_as_its_steps_show(
    sqlite_store: Path,
    good_and_weak: tuple[SklearnClassifier, SklearnClassifier],
    mlmodel: str | None,
) -> None:
    """The model is model.skops; MLmodel names its type. Without it, the pipeline's steps say
    which type it is (it said "nblr", the first type's name, for this tfidf-lr model)."""
    registry = mlflow_registry(sqlite_store, f"Meta{len(mlmodel or '')}")
    add_version(registry, good_and_weak[0])
    path = artifact_folder(sqlite_store, registry, "1") / "artifacts" / "MLmodel"
    if mlmodel is None:
        path.unlink()
    else:
        path.write_text(mlmodel)
    loaded = registry.load("1")
    assert loaded.model_type == good_and_weak[0].model_type == "tfidf-lr"
    texts = [*HOLDOUT.texts[:20], "a wonderful film", "a dreadful film"]
    assert loaded.predict(texts) == good_and_weak[0].predict(texts)


def test_loading_leaves_no_download_behind(
    sqlite_store: Path,
    good_and_weak: tuple[SklearnClassifier, SklearnClassifier],
    tmp_path: Path,
) -> None:
    add_version(mlflow_registry(sqlite_store, "NoLeak"), good_and_weak[0])
    downloads = tmp_path / "cache" / "downloads"  # not there yet: made, with its parents
    registry = MlflowModelRegistry(
        tracking_uri=f"sqlite:///{sqlite_store / 'mlflow.db'}",
        model_name="NoLeak",
        cache_dir=downloads,
    )
    registry.load("1")
    registry.load("1")
    assert downloads.is_dir()
    assert list(downloads.iterdir()) == []


def test_loading_draws_no_download_progress_bar(
    sqlite_store: Path,
    good_and_weak: tuple[SklearnClassifier, SklearnClassifier],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A server's log and a CLI's stderr get no tqdm bar per version loaded."""
    registry = mlflow_registry(sqlite_store, "NoProgressBar")
    add_version(registry, good_and_weak[0])
    capfd.readouterr()
    registry.load("1")
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_values_the_store_left_null_are_read_as_the_lean_reader_reads_them(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    """MLflow's schema lets a version's run, status and creation time, and a tag's value, be
    NULL (stores of older MLflow versions hold such rows): the adapter reads what the API's
    lean reader reads from the same store, never a None where a string is due."""
    name = "NullColumns"
    registry = mlflow_registry(sqlite_store, name)
    add_version(registry, good_and_weak[0])
    add_version(registry, good_and_weak[0])
    registry.set_tags("1", {"dataset_digest": "d1g3st", "note": "kept"})
    with sqlite3.connect(sqlite_store / "mlflow.db") as db:
        db.execute(
            "UPDATE model_versions SET run_id = NULL, status = NULL, creation_time = NULL"
            " WHERE name = ? AND version = 1",
            (name,),
        )
        db.execute(
            "UPDATE model_version_tags SET value = NULL"
            " WHERE name = ? AND version = 1 AND key IN ('dataset_digest', 'note')",
            (name,),
        )
    first = registry.get_version("1")
    assert (first.run_id, first.run_status, first.metrics) == ("", "", {})
    assert (first.status, first.created_at) == (READY, 0.0)
    assert first.tags == {"model_type": "tfidf-lr", "dataset_digest": "", "note": ""}
    assert first.dataset_digest == ""
    assert registry.list_versions()[0] == first
    lean = SqliteModelReader(registry.tracking_uri, name)
    assert lean.get_version("1") == first
    assert lean.get_version("2") == registry.get_version("2")  # a version left as MLflow wrote it


def test_an_unreachable_server_is_reported_as_such_and_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    registry = MlflowModelRegistry(tracking_uri=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    for call in (
        registry.list_versions,
        lambda: registry.get_version("1"),
        lambda: registry.get_by_alias(CHAMPION),
    ):
        with pytest.raises(RegistryUnavailableError, match="unreachable"):
            call()
    with pytest.raises(RegistryUnavailableError), registry.start_run():
        pass
    assert time.monotonic() - started < 20


def test_loading_ignores_mlflows_process_wide_uri(
    sqlite_store: Path,
    good_and_weak: tuple[SklearnClassifier, SklearnClassifier],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh process (the API, `evaluate`) never called mlflow.set_tracking_uri: MLflow's
    global URI is its default, a `mlflow.db` in the working directory. Loading must not care."""
    registry = mlflow_registry(sqlite_store, "GlobalUri")
    add_version(registry, good_and_weak[0])
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)
    mlflow.set_registry_uri(elsewhere)
    try:
        loaded = mlflow_registry(sqlite_store, "GlobalUri").load("1")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    texts = [*HOLDOUT.texts[:20], "a wonderful film", "a dreadful film"]
    assert loaded.predict(texts) == good_and_weak[0].predict(texts)
    assert not (tmp_path / "elsewhere.db").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["PENDING_REGISTRATION", "FAILED_REGISTRATION"])
def test_a_version_mlflow_does_not_call_ready_is_never_champion(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier], status: str
) -> None:
    name = f"NotReady{status.title().replace('_', '')}"
    registry = mlflow_registry(sqlite_store, name)
    add_version(registry, good_and_weak[0])
    add_version(registry, good_and_weak[0])
    registry.set_alias(CHAMPION, "1")
    # MLflow's own SQL store makes every version READY at once; other stores (and a crash in
    # theirs) leave versions pending or failed. The state is written as such a store would.
    with sqlite3.connect(sqlite_store / "mlflow.db") as db:
        db.execute(
            "UPDATE model_versions SET status = ? WHERE name = ? AND version = 2", (status, name)
        )
    assert registry.get_version("2").status == status
    with pytest.raises(PromotionRefusedError, match=f"version 2 is {status} in the registry"):
        PromoteModel(registry, POLICY).execute(
            PromoteModelCommand(parse_model_ref("2"), "looks fine", "alice")
        )
    with pytest.raises(PromotionRefusedError, match=f"version 2 is {status}"):
        GateCandidate(registry, POLICY).execute(GateCandidateCommand("2", HOLDOUT))
    assert registry.get_by_alias(CHAMPION).version == "1"


class MovesDuringItsOwnMove(MlflowModelRegistry):
    """A real adapter that, on its first `set_alias`, lets `other` run first in a thread (the
    other process moving the same alias at that instant), waiting for it a second at most."""

    other: Callable[[], object] | None = None
    joined: threading.Thread | None = None

    def set_alias(self, alias: str, version: str) -> None:
        other, self.other = self.other, None
        if other is not None:
            thread = threading.Thread(target=other)
            thread.start()
            thread.join(1.0)
            self.joined = thread
        super().set_alias(alias, version)


def test_two_promotions_at_the_same_instant_on_one_sqlite_store_do_not_both_happen(
    sqlite_store: Path, good_and_weak: tuple[SklearnClassifier, SklearnClassifier]
) -> None:
    name = "PromotedTwiceAtOnce"
    alice = MovesDuringItsOwnMove(
        tracking_uri=f"sqlite:///{sqlite_store / 'mlflow.db'}",
        experiment_name=f"exp-{name}",
        model_name=name,
        artifact_root=str(sqlite_store / "artifacts"),
    )
    bob = mlflow_registry(sqlite_store, name)  # another adapter: its own connection and lock
    for _ in range(3):
        add_version(alice, good_and_weak[0])
    alice.set_alias(CHAMPION, "1")
    outcomes: dict[str, str] = {}

    def promote(registry: MlflowModelRegistry, version: str, who: str) -> None:
        try:
            PromoteModel(registry, POLICY).execute(
                PromoteModelCommand(parse_model_ref(version), "mine", who)
            )
            outcomes[who] = "promoted"
        except PromotionRefusedError as exc:
            outcomes[who] = str(exc)

    # Bob's promotion runs in full between Alice's last check and her alias move.
    alice.other = lambda: promote(bob, "3", "bob")
    promote(alice, "2", "alice")
    assert alice.joined is not None
    alice.joined.join(10)
    holder = bob.get_by_alias(CHAMPION).version
    assert sorted(outcomes) == ["alice", "bob"]
    winners = [who for who, outcome in outcomes.items() if outcome == "promoted"]
    assert winners == ["alice"], outcomes
    assert holder == "2"
    assert "moved from version 1 to version 2" in outcomes["bob"]


@pytest.mark.parametrize("query", ["", "?timeout=20"], ids=["same-uri", "uri-with-query"])
def test_alias_moves_on_one_sqlite_store_share_one_lock_among_adapters(
    sqlite_store: Path, query: str
) -> None:
    holder = mlflow_registry(sqlite_store, "LockShared")
    other = MlflowModelRegistry(  # another process's adapter on the same store, impatient
        tracking_uri=holder.tracking_uri + query, model_name="LockShared", lock_timeout_s=0.1
    )
    with (
        holder.alias_lock(),
        pytest.raises(RegistryUnavailableError, match=r"held mlflow\.db\.alias-lock"),
        other.alias_lock(),
    ):
        pass
    with other.alias_lock():
        pass
    assert (sqlite_store / "mlflow.db.alias-lock").is_file()


def test_alias_moves_through_a_server_are_serialised_within_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's server has no lock: the adapter's own, shared by the threads of a process (and
    no lock file, which a remote store has no folder for)."""
    monkeypatch.chdir(tmp_path)
    registry = MlflowModelRegistry(tracking_uri=f"http://127.0.0.1:{free_port()}/mlflow")
    order: list[str] = []

    def move() -> None:
        with registry.alias_lock():
            order.append("second")

    with registry.alias_lock():
        second = threading.Thread(target=move)
        second.start()
        second.join(0.3)
        order.append("first")
    second.join(10)
    assert order == ["first", "second"]
    assert list(tmp_path.iterdir()) == []

"""The training CLI in process: settings, the container's wiring, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from dependency_injector import providers
from dependency_injector.errors import Error as DependencyInjectorError
from mlflow import MlflowClient

from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.imdb_dataset import IMDB_SHA256, ImdbDatasetSource
from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.application.train_model import TrainModelCommand
from sentiment.domain.errors import RegistryInputError
from sentiment.entrypoints.container import Container, build_container
from sentiment.entrypoints.settings import Settings
from sentiment.entrypoints.train import main

TINY = ["--model-type", "tfidf-lr", "-p", "n_features_log2=14"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SENTIMENT_* setting leaks in, and the working directory is the test's own."""
    import os

    for key in [k for k in os.environ if k.startswith("SENTIMENT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_the_container_chooses_adapters_from_settings(tmp_path: Path) -> None:
    csv = build_container(
        Settings(data="d.csv", text_column="review", label_column="y", registry="memory")
    )
    source = csv.dataset_source()
    assert isinstance(source, CsvDatasetSource)
    assert isinstance(csv.registry(), InMemoryModelRegistry)
    assert csv.registry() is csv.registry()  # one registry per container

    imdb = build_container(Settings(data="imdb", cache_dir=tmp_path, imdb_size=None))
    source_imdb = imdb.dataset_source()
    assert isinstance(source_imdb, ImdbDatasetSource)
    assert source_imdb.archive_path == tmp_path / "aclImdb_v1.tar.gz"
    registry = imdb.registry()
    assert isinstance(registry, MlflowModelRegistry)
    assert registry.tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert Settings().imdb_sha256 == IMDB_SHA256


def test_the_container_makes_a_new_sqlite_store_unless_told_not_to(tmp_path: Path) -> None:
    # Training and the API make the store a new tracking URI names (nothing trained yet);
    # `registry` and `evaluate` build their container with create_store=False.
    store = tmp_path / "new" / "mlflow.db"
    settings = Settings(tracking_uri=f"sqlite:///{store}")
    with pytest.raises(RegistryInputError) as raised:
        build_container(settings, create_store=False).registry().list_versions()
    assert str(raised.value).startswith(f"no MLflow store at {store}: ")
    assert not store.parent.exists()
    assert build_container(settings).registry().list_versions() == []
    assert store.is_file()


def test_an_option_the_container_is_not_given_is_an_error_not_none() -> None:
    # Its configuration is strict: an option Settings does not give (a setting renamed on one
    # side only) fails when first read, instead of reading as None ("no data" here).
    container = Container()
    container.config.from_dict({"registry": "memory", "model_name": "M"})
    assert isinstance(container.registry(), InMemoryModelRegistry)
    with pytest.raises(DependencyInjectorError) as raised:
        container.dataset_source()
    assert str(raised.value) == 'Undefined configuration option "config.data"'


def test_a_test_overrides_the_registry_provider(small_csv: Path) -> None:
    container = build_container(Settings(data=str(small_csv)))
    registry = InMemoryModelRegistry(model_name="Overridden")
    with container.registry.override(providers.Object(registry)):
        result = container.train_model().execute(
            TrainModelCommand("tfidf-lr", {"n_features_log2": 14})
        )
    assert result.model_name == "Overridden"
    assert [r.status for r in registry.runs] == ["FINISHED"]
    assert not Path("mlruns").exists()


def test_settings_come_from_the_environment_and_options_win(
    small_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SENTIMENT_DATA", str(small_csv))
    monkeypatch.setenv("SENTIMENT_REGISTRY", "memory")
    monkeypatch.setenv("SENTIMENT_TEST_SIZE", "0.3")
    monkeypatch.setenv("SENTIMENT_HYPERPARAMETERS", '{"C": 3.0, "max_iter": 50}')
    started = time.perf_counter()
    assert main([*TINY, "--random-state", "7", "--output-json", "r.json"]) == 0
    elapsed = time.perf_counter() - started
    written = json.loads(Path("r.json").read_text())
    assert 0 < written["duration_s"] <= round(elapsed, 3) + 0.001  # the run's, in seconds
    params = written["params"]
    assert params["test_size"] == 0.3
    assert params["random_state"] == 7
    assert params["hp_C"] == 3.0  # from the environment
    assert params["hp_max_iter"] == 50
    assert params["hp_n_features_log2"] == 14  # from the command line, over it
    assert params["hp_mask_names"] is True  # the default, logged with the others
    out = capsys.readouterr().out
    assert "MLflow UI" not in out  # the memory registry has no UI
    assert "accuracy" in out


def test_quiet_prints_nothing(small_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--data", str(small_csv), "--registry", "memory", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--test-size", "1.5"],
            "error: invalid setting: test_size (SENTIMENT_TEST_SIZE): Input should be less than 1",
        ),
        (["-p", "C"], "error: invalid setting: hyperparameter 'C' is not NAME=VALUE"),
        (["--model-type", "bert"], "error: unknown model type 'bert'"),
        (["-p", "gamma=1"], "error: unknown hyperparameter(s) for tfidf-lr: gamma"),
        (["-p", "C=-1"], "error: hyperparameter C must be in [1e-06, 1000000.0], got -1"),
        (["-p", f"max_iter=1{'0' * 400}"], "error: hyperparameter max_iter must be in [1, "),
        (["-p", f"C=1{'0' * 400}"], "error: hyperparameter C must be in [1e-06, "),
        (["-p", f"max_iter=1{'0' * 5000}"], "error: hyperparameter max_iter must be in [1, "),
        (
            ["--eval-data", "other.csv", "--test-size", "0.3"],
            "error: invalid setting: --test-size with --eval-data: there is no split",
        ),
    ],
    ids=[
        "test-size",
        "param-syntax",
        "model-type",
        "unknown-param",
        "bad-param-value",
        "huge-int-param",
        "huge-int-for-a-float-param",
        "int-param-beyond-pythons-digit-limit",
        "test-size-without-split",
    ],
)
def test_bad_settings_exit_2_with_one_error_line(
    small_csv: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(
        ["--data", str(small_csv), "--model-type", "tfidf-lr", "--registry", "memory", *args]
    )
    assert code == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(message)


def test_an_unexpected_failure_exits_1_and_marks_the_mlflow_run_failed(
    small_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The artifact folder is a file: storing the first artifact fails mid-run.
    Path("mlruns").mkdir()
    Path("mlruns/artifacts").write_text("not a folder")

    assert main([*TINY, "--data", str(small_csv)]) == 1

    err = capsys.readouterr().err
    assert "unexpected error (the MLflow run, if any, is marked FAILED)" in err
    assert "NotADirectoryError" in err
    client = MlflowClient(tracking_uri="sqlite:///mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("sentiment-analysis")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.params["dataset_size"] == "300"
    assert client.search_model_versions("name = 'SentimentAnalysisModel'") == []


def test_the_container_chooses_the_evaluation_source_from_settings(tmp_path: Path) -> None:
    assert build_container(Settings(data="d.csv")).evaluation_source() is None
    csv = build_container(Settings(data="d.csv", eval_data="t.csv", text_column="review"))
    source = csv.evaluation_source()
    assert isinstance(source, CsvDatasetSource)
    assert source.path == Path("t.csv")
    for name, half in [("imdb-test", "test"), ("imdb", "train")]:
        imdb = build_container(Settings(eval_data=name, cache_dir=tmp_path)).evaluation_source()
        assert isinstance(imdb, ImdbDatasetSource)
        assert (imdb.half, imdb.archive_path) == (half, tmp_path / "aclImdb_v1.tar.gz")
    test_half = build_container(Settings(data="imdb-test")).dataset_source()
    assert isinstance(test_half, ImdbDatasetSource)
    assert test_half.half == "test"


def test_with_eval_data_it_trains_on_every_row_and_mlflow_records_both_datasets(
    small_frame: pd.DataFrame, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Its own store: MLflow keeps one engine per URI in a process, and another test here uses
    # the default relative one.
    uri = f"sqlite:///{tmp_path}/eval.db"
    train, test = small_frame.iloc[:240], small_frame.iloc[240:]
    # Four test reviews are also training reviews: the run says so.
    test = pd.concat([test, train.iloc[:4]])
    train.to_csv("train.csv", index=False)
    test.to_csv("test.csv", index=False)

    data = ["--data", "train.csv", "--eval-data", "test.csv"]
    code = main([*TINY, *data, "--tracking-uri", uri, "--output-json", "r.json"])

    assert code == 0
    result = json.loads(Path("r.json").read_text())
    params = result["params"]
    assert (params["dataset_size"], params["train_size"], params["eval_size"]) == (240, 240, 64)
    assert params["eval_data"] == "test"
    assert params["eval_overlap"] == 4
    assert "test_size" not in params
    matrix = result["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == 64  # scored on the evaluation file, not on a split
    assert "240 train / 64 test (test)" in capsys.readouterr().out

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result["run_id"])
    assert run.data.params["eval_overlap"] == "4"
    assert run.inputs is not None
    contexts = {
        dataset_input.dataset.name: {t.key: t.value for t in dataset_input.tags}
        for dataset_input in run.inputs.dataset_inputs
    }
    assert contexts == {
        "train": {"mlflow.data.context": "training"},
        "test": {"mlflow.data.context": "evaluation"},
    }
    training = CsvDatasetSource("train.csv").load()
    evaluation = CsvDatasetSource("test.csv").load()
    assert run.data.tags["dataset_digest"] == training.digest
    assert run.data.tags["evaluation_dataset_digest"] == evaluation.digest
    for artifact, digest, rows in [
        ("dataset/dataset.json", training.digest, 240),
        ("dataset/evaluation.json", evaluation.digest, 64),
    ]:
        path = mlflow.artifacts.download_artifacts(
            run_id=result["run_id"],
            artifact_path=artifact,
            dst_path=f"downloads-{rows}",
            tracking_uri=uri,
        )
        info = json.loads(Path(path).read_text())
        assert (info["digest"], info["rows"]) == (digest, rows)
    version = client.get_model_version("SentimentAnalysisModel", "1")
    assert version.tags["dataset_digest"] == training.digest
    [alias] = result["aliases"]  # the gate scored it on the evaluation file too
    assert version.tags[f"{alias}.data"].startswith("test (64 rows, dataset digest ")


def test_eval_data_with_a_label_the_training_data_lacks_exits_2_and_logs_nothing(
    small_frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    small_frame.to_csv("train.csv", index=False)
    odd = small_frame.iloc[:10].assign(label="neutral")
    odd.to_csv("test.csv", index=False)

    code = main([*TINY, "--data", "train.csv", "--eval-data", "test.csv", "--registry", "memory"])

    assert code == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line == (
        "error: the evaluation data has labels the training data lacks: 'neutral' "
        "(training labels: 'negative', 'positive')"
    )


def test_labels_that_differ_only_in_case_exit_2_naming_them(
    small_frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = small_frame.copy()
    mixed.loc[mixed.index[::3], "label"] = mixed["label"].str.capitalize()
    mixed.to_csv("train.csv", index=False)

    code = main([*TINY, "--data", "train.csv", "--registry", "memory"])

    assert code == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line == (
        "error: labels differ only in case: 'Negative', 'negative'; 'Positive', 'positive' (they "
        "would train as separate classes: make each label one spelling)"
    )

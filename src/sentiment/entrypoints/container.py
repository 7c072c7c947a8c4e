"""The dependency-injector container shared by every entrypoint."""

from __future__ import annotations

from dependency_injector import containers, providers

from sentiment.adapters.imdb_dataset import ImdbDatasetSource
from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.application.describe_model import DescribeModel
from sentiment.application.evaluate_model import EvaluateModel
from sentiment.application.gate_candidate import GateCandidate
from sentiment.application.load_model import LoadModel
from sentiment.application.promote_model import PromoteModel
from sentiment.application.rollback_champion import RollbackChampion
from sentiment.application.serving import ServedModel
from sentiment.application.train_model import TrainModel
from sentiment.domain.ports import ClassifierFactory, DatasetSource, ModelReader, ModelRegistry
from sentiment.domain.promotion import PromotionPolicy
from sentiment.entrypoints.settings import Settings

IMDB_NAMES = {"imdb": "train", "imdb-train": "train", "imdb-test": "test"}
"""What `data` and `eval_data` accept besides a CSV path, and the IMDB half each names."""


def _data_kind(data: str | None) -> str:
    if data is None:
        return "none"
    return "imdb" if data in IMDB_NAMES else "csv"


def _imdb_half(data: str | None) -> str:
    return IMDB_NAMES.get(data or "imdb", "train")


# The adapters that import pandas, scikit-learn or MLflow are imported when first built, so that
# the API, which builds none of them with the default settings, starts without them.


def _csv_source(path: str, text_column: str, label_column: str) -> DatasetSource:
    from sentiment.adapters.csv_dataset import CsvDatasetSource

    return CsvDatasetSource(path=path, text_column=text_column, label_column=label_column)


def _data_source(
    config: providers.Configuration, data: providers.ConfigurationOption
) -> providers.Selector[DatasetSource | None]:
    """The source `data` names (a setting): a CSV file, an IMDB half, or None when unset."""
    return providers.Selector(
        providers.Callable(_data_kind, data),
        none=providers.Object(None),
        csv=providers.Factory(
            _csv_source,
            path=data,
            text_column=config.text_column,
            label_column=config.label_column,
        ),
        imdb=providers.Factory(
            ImdbDatasetSource,
            url=config.imdb_url,
            cache_dir=config.cache_dir,
            sha256=config.imdb_sha256,
            size=config.imdb_size,
            half=providers.Callable(_imdb_half, data),
        ),
    )


def _classifier_factory() -> ClassifierFactory:
    from sentiment.adapters.sklearn_classifier import SklearnClassifierFactory

    return SklearnClassifierFactory()


def _mlflow_registry(
    tracking_uri: str,
    experiment_name: str,
    model_name: str,
    artifact_root: str,
    create_store: bool,
) -> ModelRegistry:
    from sentiment.adapters.mlflow_registry import MlflowModelRegistry

    return MlflowModelRegistry(
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        model_name=model_name,
        artifact_root=artifact_root,
        create_store=create_store,
    )


def _lean_reader(tracking_uri: str, model_name: str) -> ModelReader:
    from sentiment.adapters.mlflow_reader import lean_reader

    return lean_reader(tracking_uri, model_name)


def _reader_kind(registry: str, serving_reader: str) -> str:
    """The API reads an MLflow registry with the lean reader unless told otherwise."""
    return "lean" if registry == "mlflow" and serving_reader == "lean" else "registry"


class Container(containers.DeclarativeContainer):
    """Wires adapters into use cases from one `Settings`. Tests override providers."""

    config = providers.Configuration(strict=True)

    dataset_source = _data_source(config, config.data)

    # Separate evaluation data for training (`eval_data`), or None: a held-out split instead.
    evaluation_source = _data_source(config, config.eval_data)

    classifier_factory = providers.Singleton(_classifier_factory)

    # Whether a `sqlite:///` store that does not exist yet is made: by training and by the API
    # (a store not made yet means nothing to serve yet). `registry` and `evaluate` override it
    # with False: a mistyped --tracking-uri is an error there, not a new, empty store.
    create_store = providers.Object(True)

    registry = providers.Selector(
        config.registry,
        mlflow=providers.Singleton(
            _mlflow_registry,
            tracking_uri=config.tracking_uri,
            experiment_name=config.experiment_name,
            model_name=config.model_name,
            artifact_root=config.artifact_root,
            create_store=create_store,
        ),
        memory=providers.Singleton(InMemoryModelRegistry, model_name=config.model_name),
    )

    promotion_policy = providers.Factory(
        PromotionPolicy, margin=config.promotion_margin, floor=config.promotion_floor
    )

    gate_candidate = providers.Factory(GateCandidate, registry=registry, policy=promotion_policy)

    train_model = providers.Factory(
        TrainModel,
        dataset_source=dataset_source,
        classifier_factory=classifier_factory,
        registry=registry,
        gate=gate_candidate,
        evaluation_source=evaluation_source,
    )

    evaluate_model = providers.Factory(
        EvaluateModel, registry=registry, dataset_source=dataset_source
    )

    promote_model = providers.Factory(PromoteModel, registry=registry, policy=promotion_policy)

    rollback_champion = providers.Factory(RollbackChampion, registry=registry)

    describe_model = providers.Factory(DescribeModel, registry=registry)
    # -- serving ----------------------------------------------------------------------------
    # What the API reads versions and models from: the registry itself, or (by default, for
    # MLflow) a lean read-only reader that imports neither MLflow nor scikit-learn.
    model_reader = providers.Selector(
        providers.Callable(_reader_kind, config.registry, config.serving_reader),
        registry=registry,
        lean=providers.Singleton(
            _lean_reader, tracking_uri=config.tracking_uri, model_name=config.model_name
        ),
    )
    load_model = providers.Factory(LoadModel, registry=model_reader)
    served_model = providers.Singleton(ServedModel)


def build_container(settings: Settings | None = None, create_store: bool = True) -> Container:
    """A container configured from `settings` (by default: the environment); `create_store`
    False for the commands that only use an existing MLflow store (see `create_store`)."""
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump(mode="json"))
    if not create_store:
        container.create_store.override(False)
    return container

"""The dependency-injector container shared by every entrypoint."""

from __future__ import annotations

from dependency_injector import containers, providers

from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.imdb_dataset import ImdbDatasetSource
from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifierFactory
from sentiment.application.train_model import TrainModel
from sentiment.entrypoints.settings import Settings


def _data_kind(data: str) -> str:
    return "imdb" if data == "imdb" else "csv"


class Container(containers.DeclarativeContainer):
    """Wires adapters into use cases from one `Settings`. Tests override providers."""

    config = providers.Configuration(strict=True)

    dataset_source = providers.Selector(
        providers.Callable(_data_kind, config.data),
        csv=providers.Factory(
            CsvDatasetSource,
            path=config.data,
            text_column=config.text_column,
            label_column=config.label_column,
        ),
        imdb=providers.Factory(
            ImdbDatasetSource,
            url=config.imdb_url,
            cache_dir=config.cache_dir,
            sha256=config.imdb_sha256,
            size=config.imdb_size,
        ),
    )

    classifier_factory = providers.Singleton(SklearnClassifierFactory)

    registry = providers.Selector(
        config.registry,
        mlflow=providers.Singleton(
            MlflowModelRegistry,
            tracking_uri=config.tracking_uri,
            experiment_name=config.experiment_name,
            model_name=config.model_name,
            artifact_root=config.artifact_root,
        ),
        memory=providers.Singleton(InMemoryModelRegistry, model_name=config.model_name),
    )

    train_model = providers.Factory(
        TrainModel,
        dataset_source=dataset_source,
        classifier_factory=classifier_factory,
        registry=registry,
    )


def build_container(settings: Settings | None = None) -> Container:
    """A container configured from `settings` (by default: the environment)."""
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump(mode="json"))
    return container

"""The dependency-injector container shared by every entrypoint."""

from __future__ import annotations

from dependency_injector import containers, providers

from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.imdb_dataset import ImdbDatasetSource
from sentiment.adapters.memory_registry import InMemoryModelRegistry
from sentiment.adapters.mlflow_registry import MlflowModelRegistry
from sentiment.adapters.sklearn_classifier import SklearnClassifierFactory
from sentiment.application.describe_model import DescribeModel
from sentiment.application.evaluate_model import EvaluateModel
from sentiment.application.gate_candidate import GateCandidate
from sentiment.application.load_model import LoadModel
from sentiment.application.promote_model import PromoteModel
from sentiment.application.rollback_champion import RollbackChampion
from sentiment.application.serving import ServedModel
from sentiment.application.train_model import TrainModel
from sentiment.domain.promotion import PromotionPolicy
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
    )

    evaluate_model = providers.Factory(
        EvaluateModel, registry=registry, dataset_source=dataset_source
    )

    promote_model = providers.Factory(PromoteModel, registry=registry, policy=promotion_policy)

    rollback_champion = providers.Factory(RollbackChampion, registry=registry)

    describe_model = providers.Factory(DescribeModel, registry=registry)
    # -- serving ----------------------------------------------------------------------------
    load_model = providers.Factory(LoadModel, registry=registry)
    served_model = providers.Singleton(ServedModel)


def build_container(settings: Settings | None = None) -> Container:
    """A container configured from `settings` (by default: the environment)."""
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump(mode="json"))
    return container

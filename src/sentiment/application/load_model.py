"""LoadModel: resolve which registered version to serve, load it and check that it predicts.

The reference comes from configuration: a pinned version wins; otherwise the version that carries
the alias (default `@champion`); otherwise, when no version carries the alias, the newest version
whose training run finished (the newest of all when none did). A version the registry does not
call READY (its registration is pending, or failed) is never loaded.
A loaded classifier must answer a fixed probe set sensibly before it is handed out, so a broken
artifact is refused at load time instead of failing the first real request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sentiment.domain.errors import (
    ModelCrashError,
    ModelLoadError,
    ModelNotFoundError,
    SentimentError,
)
from sentiment.domain.model import READY, ModelVersion
from sentiment.domain.ports import Classifier, ModelReader
from sentiment.domain.promotion import CHAMPION

RESOLVED_BY_VERSION = "version"
RESOLVED_BY_ALIAS = "alias"
RESOLVED_BY_LATEST = "latest"

# Texts every served model must classify before it serves: short, long-ish, odd.
PROBE_TEXTS: tuple[str, ...] = (
    "A wonderful film, I loved every minute of it!",
    "Dull, predictable and far too long. I want my two hours back.",
    "ok",
    "Ça m'a plu 😀 <b>vraiment</b>",
)


@dataclass(frozen=True, slots=True)
class LoadModelCommand:
    """What to serve: `version` pins one; else `alias`, falling back to the newest version."""

    alias: str | None = CHAMPION
    version: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """The registered version a reference points at, and how it was found."""

    version: ModelVersion
    resolved_by: str  # "version" | "alias" | "latest"
    alias: str | None  # the alias that matched; None when pinned or fallen back to the newest


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A loaded, checked classifier together with what the registry says about it."""

    info: ModelVersion
    classifier: Classifier
    resolved_by: str
    alias: str | None
    requested: LoadModelCommand
    loaded_at: float  # seconds since the epoch
    load_seconds: float

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version


class LoadModel:
    """Resolve the configured reference in the registry, load that version and smoke-test it."""

    def __init__(
        self,
        registry: ModelReader,
        clock: Callable[[], float] = time.time,
        probe_texts: tuple[str, ...] = PROBE_TEXTS,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._probe_texts = probe_texts

    def resolve(self, command: LoadModelCommand) -> ResolvedModel:
        """Which version the reference points at now (no artifact is loaded).

        Raises ModelNotFoundError when a pinned version does not exist, or when nothing is
        registered at all; RegistryUnavailableError when the registry cannot be reached.
        """
        registry = self._registry
        if command.version:
            return ResolvedModel(registry.get_version(command.version), RESOLVED_BY_VERSION, None)
        if command.alias:
            try:
                return ResolvedModel(
                    registry.get_by_alias(command.alias), RESOLVED_BY_ALIAS, command.alias
                )
            except ModelNotFoundError:
                pass
        versions = registry.list_versions()
        if not versions:
            raise ModelNotFoundError(
                f"{registry.model_name} has no registered version yet: nothing to serve"
            )
        # The newest version whose training run finished (so finished its evaluation); a version
        # left by a killed or failed run only when there is nothing else. Of those, one whose
        # files the registry calls complete (READY), when there is one.
        ready = [v for v in versions if v.status == READY] or versions
        finished = [v for v in ready if v.run_finished]
        return ResolvedModel((finished or ready)[-1], RESOLVED_BY_LATEST, None)

    def execute(self, command: LoadModelCommand) -> LoadedModel:
        return self.load(self.resolve(command), command)

    def load(self, resolved: ResolvedModel, command: LoadModelCommand) -> LoadedModel:
        """Load and smoke-test a version already resolved (by `resolve`) for `command`."""
        started = time.perf_counter()
        info = resolved.version
        if info.status != READY:  # its files may be missing or still arriving
            raise ModelLoadError(
                f"{info.name} version {info.version} is {info.status or 'of unknown status'} in "
                f"the registry, not {READY}: it is not served"
            )
        classifier = self._registry.load(info.version)
        self._smoke_test(resolved.version, classifier)
        return LoadedModel(
            info=resolved.version,
            classifier=classifier,
            resolved_by=resolved.resolved_by,
            alias=resolved.alias,
            requested=command,
            loaded_at=self._clock(),
            load_seconds=time.perf_counter() - started,
        )

    def _smoke_test(self, info: ModelVersion, classifier: Classifier) -> None:
        where = f"{info.name} version {info.version}"
        try:
            predictions = classifier.predict(self._probe_texts)
        except SentimentError as exc:
            raise ModelLoadError(f"{where} failed its smoke test: {exc}") from exc
        except Exception as exc:  # any crash of a loaded artifact is a load failure
            raise ModelCrashError(
                f"{where} failed its smoke test: unexpected {type(exc).__name__} from the model "
                "(see the server log)"
            ) from exc
        classes = set(classifier.classes)
        if len(predictions) != len(self._probe_texts):
            raise ModelLoadError(
                f"{where} failed its smoke test: {len(predictions)} predictions "
                f"for {len(self._probe_texts)} texts"
            )
        for prediction in predictions:
            if prediction.label not in classes:
                raise ModelLoadError(
                    f"{where} failed its smoke test: label {prediction.label!r} "
                    f"is not one of its classes {sorted(classes)}"
                )
            values = list(prediction.probabilities.values())
            if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in values) or not math.isclose(
                sum(values), 1.0, abs_tol=1e-3
            ):
                raise ModelLoadError(
                    f"{where} failed its smoke test: probabilities {values} are not a distribution"
                )

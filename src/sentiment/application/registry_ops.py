"""What the registry use cases share: resolving a reference, scoring, and moving an alias."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sentiment.domain.errors import (
    ModelLoadError,
    ModelNotFoundError,
    PromotionRefusedError,
    RegistryInputError,
)
from sentiment.domain.metrics import EvaluationMetrics, evaluate
from sentiment.domain.model import READY, LabelledDataset, ModelVersion
from sentiment.domain.model_ref import ModelRef
from sentiment.domain.ports import Classifier, ModelRegistry
from sentiment.domain.promotion import CHAMPION, AliasEvent, iso

PREDICT_BATCH = 2048


def resolve(registry: ModelRegistry, ref: ModelRef) -> ModelVersion:
    """The version a reference points at. Raises ModelNotFoundError, RegistryInputError."""
    if ref.model_name is not None and ref.model_name != registry.model_name:
        raise RegistryInputError(
            f"{ref} names the model {ref.model_name!r}, but this registry holds "
            f"{registry.model_name!r}"
        )
    if ref.alias is not None:
        return registry.get_by_alias(ref.alias)
    if ref.is_latest:
        return registry.latest_version()
    assert ref.version is not None
    return registry.get_version(ref.version)


def require_finished(version: ModelVersion) -> None:
    """Refuse a version whose training run did not finish: its evaluation may be missing or
    partial, so it is never made champion, by the gate or by hand. Nor is a version the
    registry does not call READY (its registration is pending, or failed)."""
    if version.status != READY:
        raise PromotionRefusedError(
            f"version {version.version} is {version.status or 'of unknown status'} in the "
            f"registry, not {READY}: it cannot be champion"
        )
    if not version.run_finished:
        raise PromotionRefusedError(
            f"version {version.version}: its training run is {version.run_status or 'gone'}, "
            "not FINISHED; a version without a finished evaluation cannot be champion"
        )


def current_holder(registry: ModelRegistry, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None when no version holds it."""
    try:
        return registry.get_by_alias(alias)
    except ModelNotFoundError:
        return None


def labels_served(
    registry: ModelRegistry, version: ModelVersion, fallback: Sequence[str]
) -> tuple[str, ...]:
    """The labels `version` predicts, read from its model; `fallback` when that model no longer
    loads (a broken champion is what a promotion or a rollback may be fixing, so it cannot
    block one)."""
    try:
        return registry.load(version.version).classes
    except ModelLoadError:
        return tuple(fallback)


def score(
    classifier: Classifier, data: LabelledDataset, labels: Sequence[str] | None = None
) -> EvaluationMetrics:
    """Predict every text of `data` (in batches) and score the predictions against its labels."""
    predicted: list[str] = []
    for start in range(0, len(data), PREDICT_BATCH):
        batch = data.texts[start : start + PREDICT_BATCH]
        predicted.extend(p.label for p in classifier.predict(batch))
    return evaluate(data.labels, predicted, labels=labels)


def move_alias(
    registry: ModelRegistry, event: AliasEvent, previous: ModelVersion | None
) -> AliasEvent:
    """Record the move on the version, then move the alias; returns the event as recorded.

    The record comes first, like a write-ahead log: if the process dies in between, the history
    shows a move that did not happen (rollback still works from the true alias holder), never an
    alias that moved without a record. The version's readable summary is this move's alone: what
    an earlier move or loss of the alias left there (`champion.until`, `champion.replaced_by`, a
    metric this move does not have) is emptied.

    `previous` is the holder the caller decided on (None: no version held the alias). If the
    alias has moved since (another promotion, rollback or gate ran at the same time), the move
    is refused and nothing moves: checked before the record is written, and again right before
    the alias moves (then the record is voided), that last check and the move holding the
    registry's `alias_lock`. Where that lock does not reach (two processes on one MLflow
    server), two moves that both pass the last check within the same instant both happen; the
    one overtaken says so, once it sees the alias elsewhere right after moving it. These checks
    guard @champion, the alias that serves and that rollback replays; two trainings whose gates
    each give their candidate @challenger at once both do so, the later one keeping it.
    """
    guarded = event.alias == CHAMPION
    if guarded:
        _require_unmoved(registry, event, previous)
    target = registry.get_version(event.version)
    while event.tag_key() in target.tags:  # two moves onto one version within a millisecond
        event = replace(event, at=event.at + 0.001)
    tags = event.to_tags()
    summary = f"{event.alias}."
    stale = {k: "" for k, v in target.tags.items() if k.startswith(summary) and v and k not in tags}
    written = {**stale, **tags}
    registry.set_tags(event.version, written)
    with registry.alias_lock():
        try:
            if guarded:
                _require_unmoved(registry, event, previous)
        except PromotionRefusedError:
            # Void the record: an empty event tag is no event; the summary is put back.
            registry.set_tags(event.version, {k: target.tags.get(k, "") for k in written})
            raise
        registry.set_alias(event.alias, event.version)
    holder = current_holder(registry, event.alias) if guarded else None
    if guarded and (holder is None or holder.version != event.version):
        raise PromotionRefusedError(
            f"@{event.alias} was put on version {event.version}, then at once moved on to "
            f"{'version ' + holder.version if holder else 'no version'} by another move made "
            "at the same time: look at `registry history` before anything else"
        )
    if previous is not None and previous.version != event.version:
        registry.set_tags(
            previous.version,
            {f"{event.alias}.until": iso(event.at), f"{event.alias}.replaced_by": event.version},
        )
    return event


def _require_unmoved(
    registry: ModelRegistry, event: AliasEvent, previous: ModelVersion | None
) -> None:
    expected = previous.version if previous is not None else None
    holder = current_holder(registry, event.alias)
    found = holder.version if holder is not None else None
    if found != expected:

        def name(version: str | None) -> str:
            return f"version {version}" if version else "no version"

        raise PromotionRefusedError(
            f"@{event.alias} moved from {name(expected)} to {name(found)} while this move onto "
            f"version {event.version} was being decided (another promotion, rollback or "
            "training at the same time?): nothing was moved; look at `registry history` and "
            "try again"
        )

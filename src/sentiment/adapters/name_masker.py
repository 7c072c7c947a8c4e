"""NameMasker: name masking (`name_masking`) as the first step of a scikit-learn pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from sentiment.adapters.name_masking import mask_names, rule_key


class NameMasker(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The first step of a pipeline that masks names (`mask_names`). It learns nothing but
    records, when fitted, the rule it masks by (`rule_`, `name_masking.rule_key`): a model saved
    with it tells which rule it was trained on, and one trained on another is refused when loaded
    (`SklearnClassifier`), as a serving file recording another rule is."""

    def fit(self, texts: Any, labels: Any = None) -> NameMasker:
        self.rule_ = rule_key()
        return self

    def transform(self, texts: Iterable[str]) -> list[str]:
        return mask_names(texts)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

"""NameMasker: name masking (`name_masking`) as the first step of a scikit-learn pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from sentiment.adapters.name_masking import mask_names


class NameMasker(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """The first step of a pipeline that masks names (`mask_names`); it learns nothing."""

    def fit(self, texts: Any, labels: Any = None) -> NameMasker:
        return self

    def transform(self, texts: Iterable[str]) -> list[str]:
        return mask_names(texts)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

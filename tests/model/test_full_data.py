"""The default model on the full shared data set, on the split the training CLI uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentiment.adapters import skops_format
from sentiment.adapters.hyperparameters import DEFAULT_MODEL_TYPE
from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.metrics import evaluate
from sentiment.domain.split import stratified_split
from tests.conftest import to_dataset


@pytest.mark.slow
def test_the_default_model_on_the_full_data(shared_frame: pd.DataFrame, tmp_path: Path) -> None:
    split = stratified_split(to_dataset(shared_frame, "imdb"), 0.2, 42)
    classifier = SklearnClassifier(DEFAULT_MODEL_TYPE)
    classifier.fit(split.train.texts, split.train.labels)
    probabilities = classifier.predict_proba(split.test.texts)
    predicted = [classifier.classes[i] for i in probabilities.argmax(axis=1)]
    accuracy = evaluate(split.test.labels, predicted).accuracy
    # Measured 0.9194 for nblr-lm (0.9156 for nblr; benchmarks/README.md); issue 4 asks for
    # 0.926 on this split. This guards against regressions, with room for solver noise.
    assert accuracy >= 0.915, accuracy

    # The artifact MLflow logs is an uncompressed skops file: it must stay under 20 MB.
    path = tmp_path / "model.skops"
    skops_format.dump(classifier.pipeline, path, compress=False)
    assert path.stat().st_size < 20e6
    loaded = SklearnClassifier(DEFAULT_MODEL_TYPE, pipeline=skops_format.load(path))
    texts = list(split.test.texts[:500])
    np.testing.assert_array_equal(loaded.predict_proba(texts), probabilities[:500])

"""Behavioural tests of the trained default model (Made-With-ML style).

Minimum functionality (clear cases), directional expectations (negation, an added verdict) and
invariance (names, casing, whitespace, markup). The model is trained once on 5,000 reviews, so
probabilities of short sentences stay near 0.5: the tests compare, they do not demand confidence.
"""

from __future__ import annotations

import pytest

from sentiment.adapters.sklearn_classifier import SklearnClassifier
from sentiment.domain.metrics import evaluate
from sentiment.domain.model import LabelledDataset

POSITIVE = [
    "An absolute masterpiece. The acting is superb and the story is moving.",
    "I loved this film, one of the best I have seen in years!",
    "Brilliant, funny and heartwarming. Highly recommended.",
    "A beautiful, touching film with wonderful performances.",
    "Great movie! I would watch it again and again.",
]
NEGATIVE = [
    "A complete waste of time. The plot makes no sense and the acting is terrible.",
    "Boring, predictable and far too long. I want my money back.",
    "The worst film I have ever seen.",
    "Awful script, wooden acting, dreadful direction.",
    "I hated every minute of this dull, stupid movie.",
]


def positive(model: SklearnClassifier, text: str) -> float:
    return model.predict([text])[0].probabilities["positive"]


def test_it_scores_well_on_held_out_reviews(
    default_model: SklearnClassifier, behaviour_held_out: LabelledDataset
) -> None:
    predicted = [p.label for p in default_model.predict(behaviour_held_out.texts)]
    # Trained on 5,000 reviews: about 0.88 (0.92 on 20,000). Chance is 0.5.
    assert evaluate(behaviour_held_out.labels, predicted).accuracy >= 0.85


@pytest.mark.parametrize("text", POSITIVE)
def test_clear_positives(default_model: SklearnClassifier, text: str) -> None:
    assert default_model.predict([text])[0].label == "positive"


@pytest.mark.parametrize("text", NEGATIVE)
def test_clear_negatives(default_model: SklearnClassifier, text: str) -> None:
    assert default_model.predict([text])[0].label == "negative"


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("This movie is good.", "This movie is not good."),
        ("The acting was great.", "The acting was not great."),
        ("It is worth watching.", "It is not worth watching."),
        ("I would recommend it.", "I would not recommend it."),
        ("I enjoyed this film.", "I did not enjoy this film."),
    ],
)
def test_negation_lowers_the_positive_probability(
    default_model: SklearnClassifier, plain: str, negated: str
) -> None:
    assert positive(default_model, negated) < positive(default_model, plain)


@pytest.mark.parametrize(
    ("verdict", "direction"),
    [(" The ending was terrible.", -1), (" Wonderful, a must see!", 1)],
)
def test_an_added_verdict_moves_the_prediction_its_way(
    default_model: SklearnClassifier, verdict: str, direction: int
) -> None:
    for text in ["The film follows a family in a small town.", *POSITIVE[:2], *NEGATIVE[:2]]:
        change = positive(default_model, text + verdict) - positive(default_model, text)
        assert change * direction > 0, text


@pytest.mark.parametrize(
    "template",
    [
        "{} gives a wonderful performance in this touching film.",
        "{} is dull and the film is a complete waste of time.",
    ],
)
def test_names_do_not_change_the_verdict(default_model: SklearnClassifier, template: str) -> None:
    names = ["Tom Hanks", "Meryl Streep", "John Smith", "Priya Patel", "Chen Wei", "Ana Souza"]
    predictions = default_model.predict([template.format(name) for name in names])
    assert len({p.label for p in predictions}) == 1
    scores = [p.probabilities["positive"] for p in predictions]
    assert max(scores) - min(scores) < 0.1


@pytest.mark.parametrize("text", [POSITIVE[0], NEGATIVE[0], "Not bad at all!"])
def test_casing_whitespace_and_line_breaks_change_nothing(
    default_model: SklearnClassifier, text: str
) -> None:
    variants = [
        text.upper(),
        text.lower(),
        text.title(),
        text + "   ",
        "  " + text + "\n",
        text.replace(" ", "  "),
        text.replace(". ", ".<br /><br />"),
    ]
    expected = default_model.predict([text])[0]
    for variant, got in zip(variants, default_model.predict(variants), strict=True):
        assert got == expected, variant

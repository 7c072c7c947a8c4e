"""dataset_digest: the first 16 hex digits of a SHA-256 over `label US text RS` for each pair, in
order; the same data gives the same digest in every version, and no two ways of cutting the same
characters into texts and labels share one."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment.adapters.dataset_digest import dataset_digest


def test_the_digest_of_known_data_is_pinned() -> None:
    # Recorded in every run and version (`dataset_digest`): it must not change between releases.
    assert dataset_digest(["Loved it.", "Awful."], ["positive", "negative"]) == "4952d5baac652fc9"
    assert dataset_digest([], []) == hashlib.sha256(b"").hexdigest()[:16]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_the_digest_is_the_sha256_of_each_label_and_text_between_separators(
    pairs: list[tuple[str, str]],
) -> None:
    stream = b"".join(
        label.encode("utf-8", "surrogatepass")
        + b"\x1f"
        + text.encode("utf-8", "surrogatepass")
        + b"\x1e"
        for text, label in pairs
    )
    texts = [text for text, _ in pairs]
    labels = [label for _, label in pairs]
    assert dataset_digest(texts, labels) == hashlib.sha256(stream).hexdigest()[:16]


def test_where_a_text_or_a_label_ends_changes_the_digest() -> None:
    digests = {
        dataset_digest(["ab", "c"], ["x", "x"]),
        dataset_digest(["a", "bc"], ["x", "x"]),
        dataset_digest(["abc"], ["x"]),
        dataset_digest(["xab"], [""]),  # the label's end moved into the text
        dataset_digest(["ab"], ["x"]),
        dataset_digest(["ba"], ["x"]),
        dataset_digest(["x"], ["ab"]),  # text and label swapped
        dataset_digest(["c", "ab"], ["x", "x"]),  # another order
    }
    assert len(digests) == 8


def test_a_lone_surrogate_digests_and_differs_from_its_replacement() -> None:
    # A CSV read with surrogateescape can hold lone surrogates, in a text or a label: they
    # digest, distinctly.
    assert dataset_digest(["bad \udcff byte"], ["negative"]) != dataset_digest(
        ["bad \ufffd byte"], ["negative"]
    )
    assert dataset_digest(["bad"], ["neg\udcff"]) != dataset_digest(["bad"], ["neg\ufffd"])


def test_texts_and_labels_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="zip"):
        dataset_digest(["a", "b"], ["positive"])
    with pytest.raises(ValueError, match="zip"):
        dataset_digest(["a"], ["positive", "negative"])

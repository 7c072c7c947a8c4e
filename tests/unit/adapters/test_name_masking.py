"""Name masking: mid-sentence capitalised runs read as one placeholder; sentence starts, words in
capitals and title-cased texts are left alone; masking twice changes nothing."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from sentiment.adapters.name_masker import NameMasker
from sentiment.adapters.name_masking import PLACEHOLDER, mask_names, mask_text, rule, rule_key

NAMES = ["Tom Hanks", "Meryl Streep", "Priya Patel", "Kurosawa", "Chen Wei Long"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a film with Tom Hanks in it", "a film with Somename in it"),
        ("directed by Kurosawa, scored by Ennio Morricone.", None),
        ("set in Paris; shot in Rome: cheap", "set in Somename; shot in Somename: cheap"),
        ("Kurosawa is great.", "Kurosawa is great."),  # a sentence's first word
        ("Tom Hanks is great.", "Tom Somename is great."),  # ... but not the words after it
        ("Great. Then it ends.", "Great. Then it ends."),  # after a full stop
        ("Wow! Amazing stuff? Yes", "Wow! Amazing stuff? Yes"),  # after ! and ?
        ('he said "Nice" and (Bad) things', 'he said "Nice" and (Bad) things'),  # quotes, brackets
        ("it was GREAT and the FBI came", "it was GREAT and the FBI came"),  # capitals, acronyms
        ("and I loved it", "and I loved it"),  # one capital letter alone
        ("the end.<br /><br />Overall bad", "the end.<br /><br />Overall bad"),  # a new line
        ("", ""),
    ],
)
def test_what_is_masked(text: str, expected: str | None) -> None:
    if expected is None:
        expected = "directed by Somename, scored by Somename."
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "This Film Is Great And Tom Is Good",  # str.istitle
        "Great Movie!",
        "Such a Waste Of Time And Money, Avoid It At All Costs",  # names would cover half of it
    ],
)
def test_title_case_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aaa Bcde", "aaa Bcde"),  # the name is half of the text: left as it is
        ("aaaa Bcde", "aaaa Somename"),  # one character less than half: masked
        ("ab Cd, ef Gh", "ab Somename, ef Somename"),  # two runs, 4 characters of 12
        ("a Bc, d Efgh", "a Bc, d Efgh"),  # two runs, 6 characters of 12
    ],
)
def test_names_covering_half_of_a_text_are_left_alone(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A name with capitals inside is one word: all of it is masked ...
        (
            "a long film with McLaglen and DeNiro, then DiCaprio",
            "a long film with Somename and Somename, then Somename",
        ),
        ("the lead, Victor McLaglen, is good", "the lead, Somename, is good"),
        # ... and one that goes on with other word characters is left whole, never cut: the
        # placeholder glued to the rest would be a new word ("somenameë") that still names.
        ("with Zoë Saldana as the lead here", "with Zoë Saldana as the lead here"),
        ("a film by Tom Zoë Saldana, fine", "a film by Somename Zoë Saldana, fine"),
        ("a film with Tom_Hanks and R2D2 in it", "a film with Tom_Hanks and R2D2 in it"),
        ("a film with Tom2 in it, and more", "a film with Tom2 in it, and more"),
        ("a film with McDONALD in it, and more", "a film with McDONALD in it, and more"),
        # Other characters end a name as a space does.
        ("i loved Tom's dog and Jean-Luc here", "i loved Somename's dog and Somename-Luc here"),
    ],
)
def test_a_name_is_masked_whole_or_not_at_all(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["and", "the", "Tom", "Laglen", "ë", "2", "_", "FBI", " ", " ", ", "]),
        max_size=24,
    ).map("".join)
    | st.text(alphabet=st.sampled_from(list("abAB ,;:'-_2é")), max_size=60),
)
def test_masking_never_cuts_a_word(text: str) -> None:
    # Every word (a run of word characters, as the hasher's tokens) of the masked text is the
    # placeholder or a word of the text: no word is cut, no new word is made.
    words = set(re.findall(r"\w+", text))
    masked = mask_text(text)
    assert set(re.findall(r"\w+", masked)) <= words | {PLACEHOLDER}


def test_every_name_reads_the_same() -> None:
    template = "the lead, played by {}, is wonderful and {} is dull."
    masked = {mask_text(template.format(a, b)) for a in NAMES for b in NAMES}
    assert masked == {f"the lead, played by {PLACEHOLDER}, is wonderful and {PLACEHOLDER} is dull."}


def test_mask_names_masks_each_text() -> None:
    texts = ["with Tom here", "no names here", "and Kurosawa"]
    assert mask_names(texts) == [mask_text(t) for t in texts]
    assert mask_names(iter(texts)) == mask_names(texts)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abAB ,.;:!?\"'<>/\n")), max_size=80))
def test_masking_twice_changes_nothing(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_a_text_without_ascii_capitals_is_unchanged(text: str) -> None:
    lowered = "".join(c for c in text if not "A" <= c <= "Z")
    assert mask_text(lowered) == lowered


def test_the_pipeline_step_masks_what_mask_names_masks_and_learns_nothing() -> None:
    texts = ["a film with Tom Hanks in it", "Kurosawa is great.", "This Film Is Great"]
    masker = NameMasker()
    assert masker.fit(texts, ["positive"] * 3) is masker
    assert masker.rule_ == rule_key()  # fitted, it records the rule it masks by
    assert json.loads(rule_key()) == rule()
    assert masker.transform(texts) == mask_names(texts)
    assert NameMasker().fit_transform(texts) == mask_names(texts)
    assert NameMasker().transform(iter(texts)) == mask_names(texts)  # unfitted: nothing to learn


def test_one_string_is_refused_as_scikit_learn_refuses_it() -> None:
    # A string is an iterable of its characters: a pipeline that masks names scored each
    # character as a review (one prediction a character) where one without refuses it.
    texts, labels = ["good film", "bad film", "great fun", "awful mess"], [1, 0, 1, 0]
    for steps in ([], [NameMasker()]):
        pipeline = make_pipeline(*steps, HashingVectorizer(n_features=64), LogisticRegression())
        pipeline.fit(texts, labels)
        with pytest.raises(ValueError, match="string object received"):
            pipeline.predict("a good film")
    with pytest.raises(ValueError, match="string object received"):
        mask_names("a film with Tom Hanks")


def test_the_pipeline_step_tells_scikit_learn_it_needs_no_fit_and_takes_a_list_of_texts() -> None:
    check_is_fitted(NameMasker())  # raises NotFittedError for a step that requires a fit
    tags = get_tags(NameMasker())
    assert (tags.requires_fit, tags.input_tags.string, tags.input_tags.two_d_array) == (
        False,
        True,
        False,
    )

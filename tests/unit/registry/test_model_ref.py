"""Model references, alias and tag rules: the input people type and adapters must refuse alike."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sentiment.domain.errors import RegistryInputError
from sentiment.domain.model_ref import (
    ModelRef,
    canonical_version,
    check_alias,
    check_tag,
    parse_model_ref,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", ModelRef(version="3")),
        (" 007 ", ModelRef(version="7")),
        ("@champion", ModelRef(alias="champion")),
        ("latest", ModelRef(version="latest")),
        ("LATEST", ModelRef(version="latest")),
        ("models:/Sent/12", ModelRef(version="12", model_name="Sent")),
        ("models:/Sent@challenger", ModelRef(alias="challenger", model_name="Sent")),
        ("models:/Sent/latest", ModelRef(version="latest", model_name="Sent")),
        ("models:/My Model-2/1", ModelRef(version="1", model_name="My Model-2")),
    ],
)
def test_every_reference_form_parses(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "-1",
        "1.5",
        "v3",
        "champion",
        "@",
        "@v2",
        "@latest",
        "@a b",
        "models:/",
        "models:/X",
        "models:/X/",
        "models:/X/abc",
        "models:/X@",
        "models:/X/1/2",
        "runs:/abc/model",
        "³",
    ],
)
def test_malformed_references_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(RegistryInputError, match=r"(invalid model reference|invalid alias)"):
        parse_model_ref(text)


def test_a_bare_alias_name_gets_a_hint() -> None:
    with pytest.raises(RegistryInputError, match="did you mean @champion"):
        parse_model_ref("champion")
    with pytest.raises(RegistryInputError) as caught:
        parse_model_ref("3.5")
    assert str(caught.value) == (
        "invalid model reference '3.5': use a version (3), an alias (@champion), latest, "
        "or models:/Name/3, models:/Name@champion, models:/Name/latest"
    )


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=3))
def test_versions_are_canonical_positive_integers(number: int, zeros: int) -> None:
    assert canonical_version("0" * zeros + str(number)) == str(number)
    assert parse_model_ref("0" * zeros + str(number)) == ModelRef(version=str(number))


@given(st.text(max_size=6))
def test_canonical_version_is_none_or_a_positive_integer(text: str) -> None:
    result = canonical_version(text)
    assert result is None or (result.isdigit() and int(result) >= 1 and str(int(result)) == result)


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,20}", fullmatch=True).filter(
        lambda a: a.lower() != "latest" and not (a[0] in "vV" and a[1:].isdigit())
    ),
    st.sampled_from(["", "Sentiment", "a-b_c"]),
)
def test_a_reference_prints_as_it_parses(alias: str, name: str) -> None:
    for ref in (ModelRef(alias=alias, model_name=name or None), ModelRef(version="4")):
        assert parse_model_ref(str(ref)) == ref


def test_a_reference_names_exactly_one_target() -> None:
    for version, alias in ((None, None), ("1", "champion")):
        with pytest.raises(RegistryInputError) as caught:
            ModelRef(version=version, alias=alias)
        assert str(caught.value) == "a model reference names a version or an alias, not both"


@pytest.mark.parametrize(
    ("text", "latest"),
    [
        ("latest", True),
        ("Latest", True),
        ("models:/Sent/latest", True),
        ("3", False),
        ("@champion", False),
        ("models:/Sent@champion", False),
    ],
)
def test_only_the_latest_form_is_latest(text: str, latest: bool) -> None:
    assert parse_model_ref(text).is_latest is latest


@pytest.mark.parametrize(
    "alias", ["v3", "V12", "3", "has space", "", "-dash", "a/b", "latest", "Latest", "x" * 256]
)
def test_invalid_aliases(alias: str) -> None:
    with pytest.raises(RegistryInputError, match="invalid alias"):
        check_alias(alias)


@pytest.mark.parametrize("alias", ["champion", "challenger", "_x", "shadow-2", "v3a", "x" * 255])
def test_valid_aliases(alias: str) -> None:
    check_alias(alias)


@pytest.mark.parametrize(
    "key", ["", "a\nb", "a|b", "../x", "/abs", "a//b", "a/./b", "x" * 251, "é?"]
)
def test_invalid_tag_keys(key: str) -> None:
    with pytest.raises(RegistryInputError, match="invalid tag key"):
        check_tag(key, "v")


@pytest.mark.parametrize(
    "key", ["model_type", "champion.at", "a/b", "with space", "k:v", "x" * 250]
)
def test_valid_tag_keys(key: str) -> None:
    check_tag(key, "value")


def test_tag_values_are_text_of_bounded_length() -> None:
    check_tag("k", "x" * 5000)
    with pytest.raises(RegistryInputError, match="over 5000"):
        check_tag("k", "x" * 5001)
    with pytest.raises(RegistryInputError, match="must be text"):
        check_tag("k", 3)  # type: ignore[arg-type]


refs = st.builds(
    ModelRef,
    version=st.integers(1, 10**6).map(str) | st.just("latest"),
    model_name=st.none() | st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True),
) | st.builds(
    ModelRef,
    alias=st.from_regex(r"[a-z_][a-z0-9_-]{0,20}", fullmatch=True).filter(
        lambda a: a != "latest" and not (a[:1] == "v" and a[1:].isdigit())
    ),
    model_name=st.none() | st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)


@given(refs)
def test_a_reference_reads_back_from_its_text(ref: ModelRef) -> None:
    assert parse_model_ref(str(ref)) == ref


def test_the_uri_form_of_a_version_has_a_slash() -> None:
    assert str(ModelRef(version="3", model_name="Sentiment")) == "models:/Sentiment/3"
    assert str(ModelRef(alias="champion", model_name="Sentiment")) == "models:/Sentiment@champion"


def test_a_tag_value_that_is_not_text_is_named_by_its_type() -> None:
    with pytest.raises(RegistryInputError, match="value must be text, not int"):
        check_tag("key", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("alias", ["champion\n", "shadow-2\n", "_x\n"])
def test_an_alias_with_a_trailing_newline_is_refused(alias: str) -> None:
    with pytest.raises(RegistryInputError, match="invalid alias"):
        check_alias(alias)


@pytest.mark.parametrize("key", ["model_type\n", "champion.at\n", "a/b\n"])
def test_a_tag_key_with_a_trailing_newline_is_refused(key: str) -> None:
    with pytest.raises(RegistryInputError, match="invalid tag key"):
        check_tag(key, "v")


def test_the_tag_key_dot_is_refused_as_a_path_like_mlflow_does() -> None:
    # MLflow refuses it (a file named "." is the directory itself): every adapter must.
    with pytest.raises(RegistryInputError, match=r"invalid tag key '\.': it reads as a path"):
        check_tag(".", "v")


@pytest.mark.parametrize("text", ["v3", "V12", "v0"])
def test_a_reserved_name_gets_no_alias_hint(text: str) -> None:
    with pytest.raises(RegistryInputError) as caught:
        parse_model_ref(text)
    assert "did you mean" not in str(caught.value)


_ALIAS_CHARS = st.sampled_from("avVAZ019_-. @\n/é٣")


@given(st.text(_ALIAS_CHARS, max_size=8))
@example("champion\n")
@example("v3")
def test_an_alias_is_accepted_exactly_when_it_is_an_unreserved_identifier(alias: str) -> None:
    ascii_identifier = (
        alias != ""
        and (alias[0].isascii() and (alias[0].isalpha() or alias[0] == "_"))
        and all(c.isascii() and (c.isalnum() or c in "_-") for c in alias)
    )
    reserved = alias.lower() == "latest" or (
        alias[:1] in ("v", "V") and alias[1:].isascii() and alias[1:].isdigit()
    )
    try:
        check_alias(alias)
    except RegistryInputError:
        accepted = False
    else:
        accepted = True
    assert accepted == (ascii_identifier and not reserved)

"""The serving settings: defaults, environment variables, and refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sentiment.entrypoints.settings import Settings


def test_defaults_match_the_issue() -> None:
    settings = Settings()
    assert settings.model_alias == "champion"
    assert settings.model_version is None
    assert settings.max_batch == 256
    assert settings.max_text_chars == 50_000
    assert settings.max_body_bytes == 1024 * 1024


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MODEL_ALIAS", "challenger")
    monkeypatch.setenv("SENTIMENT_MODEL_VERSION", "12")
    monkeypatch.setenv("SENTIMENT_MAX_BATCH", "8")
    monkeypatch.setenv("SENTIMENT_LOAD_RETRY_MAX_S", "5")
    settings = Settings()
    assert (settings.model_alias, settings.model_version) == ("challenger", "12")
    assert (settings.max_batch, settings.load_retry_max_s) == (8, 5.0)


def test_an_empty_version_means_follow_the_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_MODEL_VERSION", " ")
    assert Settings().model_version is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model_version", "v3"),
        ("model_version", "0"),
        ("model_alias", "has space"),
        ("model_alias", ""),
        ("max_batch", 0),
        ("max_text_chars", 0),
        ("max_body_bytes", 10),
        ("load_retry_initial_s", 0),
        ("load_retry_multiplier", 0.5),
        ("startup_wait_s", -1),
    ],
)
def test_nonsense_is_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})  # type: ignore[arg-type]


def test_the_first_retry_cannot_wait_longer_than_the_longest() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        Settings(load_retry_initial_s=10, load_retry_max_s=1)


def test_secrets_of_exactly_sixteen_characters_are_accepted_and_of_fifteen_refused() -> None:
    assert Settings(api_keys=["k" * 16]).api_keys == ["k" * 16]
    assert Settings(admin_token="t" * 16).admin_token == "t" * 16
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(api_keys=["k" * 16, "k" * 15])
    with pytest.raises(ValidationError, match="admin_token"):
        Settings(admin_token="t" * 15)


def test_the_first_retry_may_wait_as_long_as_the_longest() -> None:
    settings = Settings(load_retry_initial_s=5, load_retry_max_s=5)
    assert (settings.load_retry_initial_s, settings.load_retry_max_s) == (5.0, 5.0)

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


# Each numeric setting's range, as an operator meets it: through its environment variable, the
# last value accepted at each end and the first refused past it.
RANGES = [
    # name, accepted at the edges, refused just past them
    ("imdb_size", ["1"], ["0"]),
    ("test_size", ["0.001", "0.999"], ["0", "1"]),
    ("promotion_margin", ["-1", "1"], ["-1.001", "1.001"]),
    ("promotion_floor", ["0", "1"], ["-0.001", "1.001"]),
    ("max_batch", ["1", "100000"], ["0", "100001"]),
    ("max_text_chars", ["1"], ["0"]),
    ("max_body_bytes", ["1024"], ["1023"]),
    ("batch_max_size", ["0", "4096"], ["-1", "4097"]),
    ("batch_max_wait_ms", ["0", "1000"], ["-0.001", "1000.001"]),
    ("workers", ["1", "512"], ["0", "513"]),
    ("load_retry_initial_s", ["0.001"], ["0"]),
    ("load_retry_max_s", ["0.5"], ["0"]),  # not below the first retry's 0.5 s
    ("load_retry_multiplier", ["1"], ["0.999"]),
    ("startup_wait_s", ["0"], ["-0.001"]),
    ("reload_interval_s", ["0"], ["-0.001"]),
    ("body_timeout_s", ["0.001"], ["0"]),
]


@pytest.mark.parametrize(("name", "accepted", "refused"), RANGES, ids=[r[0] for r in RANGES])
def test_a_numeric_setting_is_accepted_up_to_its_edges_and_refused_past_them(
    monkeypatch: pytest.MonkeyPatch, name: str, accepted: list[str], refused: list[str]
) -> None:
    variable = f"SENTIMENT_{name.upper()}"
    for value in accepted:
        monkeypatch.setenv(variable, value)
        assert getattr(Settings(), name) == float(value), (variable, value)
    for value in refused:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValidationError, match=name):
            Settings()


def test_every_bounded_setting_has_its_range_pinned_above() -> None:
    bounds = ("ge", "gt", "le", "lt")
    bounded = {
        name
        for name, field in Settings.model_fields.items()
        if any(hasattr(rule, bound) for rule in field.metadata for bound in bounds)
    }
    assert bounded == {name for name, _, _ in RANGES}


def test_a_refused_secret_is_not_repeated_in_the_error() -> None:
    # A plain `uvicorn sentiment.entrypoints.api:app` prints the whole error on a bad setting.
    secret = "private-token-1"  # 15 characters: one short
    with pytest.raises(ValidationError) as caught:
        Settings(admin_token=secret, api_keys=[secret])
    assert secret not in str(caught.value)
    assert "admin_token" in str(caught.value)


def test_the_settings_cannot_change_once_read() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.max_batch = 1  # type: ignore[misc]

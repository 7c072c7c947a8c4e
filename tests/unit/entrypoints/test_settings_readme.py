"""The README's Settings table and `Settings` agree: every setting is documented once, with the
default the code has (a changed default must change the table, or this fails)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from sentiment.entrypoints.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"
ROW = re.compile(r"^\| `SENTIMENT_([A-Z0-9_]+)` \| (.+?) \| .+ \|$")
NO_DEFAULT = {"(none)", "(cores)"}  # (cores): `workers`, chosen at start from the CPUs


def documented() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            rows.setdefault(match.group(1).lower(), []).append(match.group(2))
    return rows


def default_of(name: str) -> Any:
    field = Settings.model_fields[name]
    if field.default is PydanticUndefined:
        assert field.default_factory is not None, name
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def as_documented(value: Any) -> str:
    """How the table writes a default."""
    if value is None or value == []:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{str(value).replace(str(Path.home()), '~', 1)}`"
    if value == {}:
        return "`{}`"
    return f"`{value}`"


def test_every_setting_is_in_the_readme_table_once_and_nothing_else_is() -> None:
    rows = documented()
    assert len(rows) > 30  # the table was found
    assert sorted(rows) == sorted(Settings.model_fields)
    assert {name: len(cells) for name, cells in rows.items() if len(cells) > 1} == {}


def test_the_readme_table_gives_the_default_the_code_has() -> None:
    rows = documented()
    wrong = {}
    for name in Settings.model_fields:
        (cell,) = rows[name]
        expected = as_documented(default_of(name))
        if not (cell == expected or (expected == "(none)" and cell in NO_DEFAULT)):
            wrong[name] = (cell, expected)
    assert wrong == {}

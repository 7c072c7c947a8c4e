"""References to registered models, and the names the registry accepts (pure rules).

A reference is what a person types to point at one version of a registered model:

    3                       version 3
    @champion               whichever version holds the alias `champion`
    latest                  the newest version
    models:/Name/3          version 3 of the model `Name` (the MLflow URI forms)
    models:/Name@champion
    models:/Name/latest

Alias and tag rules are MLflow's, so that every registry adapter refuses the same input.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from sentiment.domain.errors import RegistryInputError

LATEST = "latest"
MAX_ALIAS_LENGTH = 255
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000

# Whole-string patterns, used with fullmatch (`$` would let a trailing newline through).
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VERSION_LIKE_ALIAS = re.compile(r"[vV]\d+")
_TAG_KEY = re.compile(r"[/\w.\- :]+")
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))")


def canonical_version(version: str) -> str | None:
    """`"3"` and `"03"` -> `"3"`; anything that is not a positive integer -> None."""
    text = str(version).strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return str(number) if number >= 1 else None


def check_alias(alias: str) -> None:
    """Aliases are identifiers (letters, digits, `_`, `-`; not starting with a digit or `-`),
    never `latest` and never a version (`v3`). Stricter than MLflow, so that `@3` never looks
    like version 3."""
    problem = _alias_problem(alias)
    if problem:
        raise RegistryInputError(problem)


def _alias_problem(alias: str) -> str:
    """Why `alias` is not a valid alias ("" when it is)."""
    if not alias or len(alias) > MAX_ALIAS_LENGTH or not _ALIAS.fullmatch(alias):
        return (
            f"invalid alias {alias!r}: use letters, digits, '_' and '-', starting with a letter "
            f"or '_' (at most {MAX_ALIAS_LENGTH} characters)"
        )
    if alias.lower() == LATEST or _VERSION_LIKE_ALIAS.fullmatch(alias):
        return f"invalid alias {alias!r}: the name is reserved"
    return ""


def check_tag(key: str, value: str) -> None:
    """Tag keys are letters, digits, `_ . - / : space`, and no path tricks; values are text."""
    if not key or len(key) > MAX_TAG_KEY_LENGTH or not _TAG_KEY.fullmatch(key):
        raise RegistryInputError(
            f"invalid tag key {key!r}: use letters, digits, '_', '.', '-', '/', ':' and spaces "
            f"(at most {MAX_TAG_KEY_LENGTH} characters)"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        raise RegistryInputError(f"invalid tag key {key!r}: it reads as a path ({normal!r})")
    if not isinstance(value, str):
        raise RegistryInputError(f"tag {key!r}: value must be text, not {type(value).__name__}")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise RegistryInputError(
            f"tag {key!r}: value of {len(value)} characters is over {MAX_TAG_VALUE_LENGTH}"
        )


@dataclass(frozen=True, slots=True)
class ModelRef:
    """One of: a version, an alias, or the latest version; of `model_name` (None: the default)."""

    version: str | None = None
    alias: str | None = None
    model_name: str | None = None

    def __post_init__(self) -> None:
        if (self.version is None) == (self.alias is None):
            raise RegistryInputError("a model reference names a version or an alias, not both")

    @property
    def is_latest(self) -> bool:
        return self.version == LATEST

    def __str__(self) -> str:
        target = f"@{self.alias}" if self.alias is not None else str(self.version)
        if self.model_name is None:
            return target
        return f"models:/{self.model_name}{target if self.alias else '/' + target}"


def parse_model_ref(text: str) -> ModelRef:
    """Read a reference (see the module docstring). Raises RegistryInputError with the forms."""
    raw = text.strip()
    match = _URI.fullmatch(raw)
    name: str | None = None
    if match:
        name = match.group("name")
        target = match.group("version") or "@" + match.group("alias")
    elif raw.startswith("models:"):
        raise RegistryInputError(_bad_ref(text))
    else:
        target = raw
    if target.startswith("@"):
        alias = target[1:]
        check_alias(alias)
        return ModelRef(alias=alias, model_name=name)
    if target.lower() == LATEST:
        return ModelRef(version=LATEST, model_name=name)
    version = canonical_version(target)
    if version is None:
        raise RegistryInputError(_bad_ref(text))
    return ModelRef(version=version, model_name=name)


def _bad_ref(text: str) -> str:
    name = text.strip()
    hint = f" (did you mean @{name}?)" if not _alias_problem(name) else ""
    return (
        f"invalid model reference {text!r}{hint}: use a version (3), an alias (@champion), "
        "latest, or models:/Name/3, models:/Name@champion, models:/Name/latest"
    )

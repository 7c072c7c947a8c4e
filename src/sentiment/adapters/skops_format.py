"""Pickle-free model files: skops with an explicit list of trusted types.

Only the types listed here can be loaded; a file that names any other type is refused, so a
tampered artifact cannot run code on the serving path.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from sentiment.domain.errors import ModelLoadError

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sentiment.adapters.context_model.NegationContextClassifier",
    "sentiment.adapters.hashed_vocabulary.HashedVocabulary",
    "sentiment.adapters.lm_model.NbLanguageModelClassifier",
    "sentiment.adapters.name_masker.NameMasker",
    "builtins.list",
    "builtins.tuple",
    "builtins.dict",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
)


def dump(obj: Any, path: Path, compress: bool = True) -> None:
    """Write `obj` as a skops file; `compress` deflates the arrays inside (smaller, same load)."""
    import skops.io as sio

    if compress:
        sio.dump(obj, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    else:
        sio.dump(obj, path)


def load(path: Path) -> Any:
    """Load a skops file, trusting only TRUSTED_TYPES."""
    import skops.io as sio

    refused = sorted(types_in(path) - set(TRUSTED_TYPES))
    if refused:
        raise ModelLoadError(f"model file {path.name} holds untrusted types: {', '.join(refused)}")
    try:
        return sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:
        raise ModelLoadError(f"cannot load model file {path.name}: {exc}") from exc


def types_in(path: Path) -> set[str]:
    """Every `module.Class` that a skops file asks to construct, read from its schema."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelLoadError(f"cannot read model file {path.name}: {exc}") from exc
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found

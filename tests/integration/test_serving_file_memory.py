"""A serving file whose header or arrays claim more memory than there is is refused as any other
malformed file (ModelLoadError: a broken champion must not block a promotion nor crash a reload),
not left to escape as a MemoryError."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentiment.adapters.hashed_linear import HashedLinearModel
from sentiment.adapters.text_hashing import HashingSettings
from sentiment.domain.errors import ModelLoadError


def small_model() -> HashedLinearModel:
    """Two classes over 16 hashed columns, no TF-IDF (a version-1 file)."""
    coef = np.zeros((16, 1), dtype=np.float32)
    coef[[1, 5], 0] = [0.5, -0.25]
    return HashedLinearModel(
        model_type="tfidf-lr",
        classes=("negative", "positive"),
        hashing=HashingSettings(n_features=16),
        coef=coef,
        intercept=np.array([0.1], dtype=np.float32),
        tfidf=None,
    )


def arrays_of(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_a_header_claiming_terabytes_of_coefficients_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    small_model().save(good)
    assert HashedLinearModel.load(good).classes == ("negative", "positive")
    arrays = arrays_of(good)
    header = json.loads(arrays["header"].tobytes())
    # 2**31 columns by 1024 score columns: 8 TiB of float32 coefficients, dense.
    header["hashing"]["n_features"] = 2**31
    header["classes"] = [f"c{k}" for k in range(1024)]
    header["n_scores"] = 1024
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    arrays["intercept"] = np.zeros(1024, dtype=np.float32)
    target = tmp_path / "huge.npz"
    with target.open("wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ModelLoadError, match=r"huge\.npz is malformed or too large"):
        HashedLinearModel.load(target)


def test_an_array_declaring_terabytes_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    small_model().save(good)
    target = tmp_path / "declared.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    )
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            if name != "coef_values.npy":
                copy.writestr(name, source.read(name))
        copy.writestr("coef_values.npy", header.getvalue() + b"\0" * 8)
    with pytest.raises(ModelLoadError, match=r"cannot read serving model file declared\.npz"):
        HashedLinearModel.load(target)

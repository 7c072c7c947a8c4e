"""CsvDatasetSource: labelled texts from a CSV file, read with pandas."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment.adapters.dataset_digest import dataset_digest
from sentiment.domain.errors import DatasetError
from sentiment.domain.model import LabelledDataset
from sentiment.domain.ports import DatasetSource

_SNIFF_BYTES = 8192
_READ: dict[str, Any] = {
    "dtype": str,
    "keep_default_na": False,
    "encoding": "utf-8",
    "encoding_errors": "strict",
    "on_bad_lines": "error",
}


def _first_non_utf8(path: Path) -> tuple[str, int] | None:
    """Why and at which byte of the file UTF-8 decoding first fails; None if it does not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes of the file before `chunk`
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            pending = len(decoder.getstate()[0])  # an unfinished character from the last chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return exc.reason, offset - pending + exc.start
            if not chunk:
                return None
            offset += len(chunk)


class CsvDatasetSource(DatasetSource):
    """Reads `text_column` and `label_column` of a CSV file.

    Rows whose text or label is missing, empty or whitespace only are dropped and counted.
    Labels are kept as strings (a numeric label column gives "0", "1"...).
    """

    def __init__(
        self, path: str | Path, text_column: str = "text", label_column: str = "label"
    ) -> None:
        self._path = Path(path)
        self._text_column = text_column
        self._label_column = label_column

    @property
    def path(self) -> Path:
        """The CSV file it reads."""
        return self._path

    def load(self) -> LabelledDataset:
        path = self._path
        if not path.exists():
            raise DatasetError(f"data file not found: {path}")
        if not path.is_file():
            raise DatasetError(f"data path is not a file: {path}")
        try:
            with path.open("rb") as handle:
                head = handle.read(_SNIFF_BYTES)
            if b"\x00" in head:
                raise DatasetError(
                    f"{path} is not a UTF-8 CSV file: it holds NUL bytes (binary or UTF-16 data)"
                )
            frame = pd.read_csv(path, **_READ)
            # The header as written: pandas renames a repeated column ("label" -> "label.1").
            header = [str(c) for c in pd.read_csv(path, header=None, nrows=1, **_READ).iloc[0]]
        except PermissionError as exc:
            raise DatasetError(f"cannot read {path}: permission denied") from exc
        except UnicodeDecodeError as exc:
            # pandas decodes piece by piece: exc.start counts from the start of a piece, not of
            # the file. Find the first byte that is not UTF-8 in the file itself.
            reason, start = _first_non_utf8(path) or (exc.reason, exc.start)
            raise DatasetError(f"{path} is not a UTF-8 CSV file: {reason} at byte {start}") from exc
        except pd.errors.EmptyDataError as exc:
            raise DatasetError(f"{path} is empty: no header and no rows") from exc
        except (pd.errors.ParserError, csv.Error, ValueError) as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DatasetError(f"{path} is not a valid CSV file: {first_line}") from exc
        except OSError as exc:
            raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc

        if not isinstance(frame.index, pd.RangeIndex):
            # Every row had more fields than the header: pandas would have made the first ones an
            # index and read the texts from the wrong place (an unquoted comma in each text?).
            raise DatasetError(
                f"{path} is not a valid CSV file: its rows have {frame.index.nlevels} more "
                "field(s) than the header has columns (a text with an unquoted comma?)"
            )
        for column in dict.fromkeys((self._text_column, self._label_column)):
            if header.count(column) > 1:
                raise DatasetError(
                    f"{path}: the column {column!r} appears {header.count(column)} times in the "
                    "header: which one to read is ambiguous"
                )
        missing = [c for c in (self._text_column, self._label_column) if c not in frame.columns]
        if missing:
            found = ", ".join(repr(str(c)) for c in frame.columns) or "none"
            raise DatasetError(
                f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; "
                f"columns found: {found}"
            )
        texts_all = frame[self._text_column].tolist()
        labels_all = frame[self._label_column].tolist()
        texts: list[str] = []
        labels: list[str] = []
        for text, label in zip(texts_all, labels_all, strict=True):
            if isinstance(text, str) and isinstance(label, str) and text.strip() and label.strip():
                texts.append(text)
                labels.append(label.strip())
        return LabelledDataset(
            texts=tuple(texts),
            labels=tuple(labels),
            name=path.stem,
            source=str(path.resolve()),
            digest=dataset_digest(texts, labels),
            dropped=len(texts_all) - len(texts),
        )

"""CsvDatasetSource on real files written in tmp_path: good data, and every kind of bad input."""

from __future__ import annotations

import errno
import gzip
import os
import signal
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.dataset_digest import dataset_digest
from sentiment.domain.errors import DatasetError


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_reads_texts_and_string_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "reviews.csv",
        'text,label,rating\n"Loved it, truly.",positive,9\n"Awful.\nJust awful.",negative,1\n',
    )
    dataset = CsvDatasetSource(path).load()
    assert dataset.texts == ("Loved it, truly.", "Awful.\nJust awful.")
    assert dataset.labels == ("positive", "negative")
    assert dataset.dropped == 0
    assert dataset.name == "reviews"
    assert dataset.source == str(path.resolve())
    assert dataset.digest == dataset_digest(dataset.texts, dataset.labels)
    assert CsvDatasetSource(path).path == path


def test_column_names_are_configurable(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "review,sentiment\ngood,pos\nbad,neg\n")
    dataset = CsvDatasetSource(path, text_column="review", label_column="sentiment").load()
    assert dataset.texts == ("good", "bad")
    assert dataset.labels == ("pos", "neg")


def test_numeric_labels_are_kept_as_strings(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\ngood,1\nbad,0\nmeh,2\nokay, 1 \n")
    dataset = CsvDatasetSource(path).load()
    assert dataset.labels == ("1", "0", "2", "1")
    assert dataset.classes == ("0", "1", "2")


def test_empty_or_missing_texts_and_labels_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        "text,label\n"
        "kept one,pos\n"
        ",pos\n"  # empty text
        '"   ",neg\n'  # whitespace-only text
        "no label,\n"  # empty label
        "blank label,   \n"  # whitespace-only label
        "short row\n"  # missing label field
        "kept two,neg\n",
    )
    dataset = CsvDatasetSource(path).load()
    assert dataset.texts == ("kept one", "kept two")
    assert dataset.labels == ("pos", "neg")
    assert dataset.dropped == 5


def test_the_words_na_and_null_are_texts_not_missing_values(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\nNA,pos\nnull,neg\nNaN,pos\n")
    dataset = CsvDatasetSource(path).load()
    assert dataset.texts == ("NA", "null", "NaN")
    assert dataset.dropped == 0


def test_a_utf8_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.csv", "\ufefftext,label\nbien,pos\n".encode())
    assert CsvDatasetSource(path).load().texts == ("bien",)


def test_a_header_without_rows_gives_an_empty_dataset(tmp_path: Path) -> None:
    dataset = CsvDatasetSource(write(tmp_path / "d.csv", "text,label\n")).load()
    assert len(dataset) == 0
    assert dataset.dropped == 0


def test_the_digest_depends_on_content_only(tmp_path: Path) -> None:
    content = "text,label\na,x\nb,y\n"
    first = CsvDatasetSource(write(tmp_path / "one.csv", content)).load()
    second = CsvDatasetSource(write(tmp_path / "two.csv", content)).load()
    changed = CsvDatasetSource(write(tmp_path / "three.csv", "text,label\na,x\nb,x\n")).load()
    assert first.digest == second.digest
    assert first.digest != changed.digest
    assert len(first.digest) == 16


def test_reads_the_shared_sample(small_csv: Path) -> None:
    dataset = CsvDatasetSource(small_csv).load()
    assert len(dataset) == 300
    assert dataset.classes == ("negative", "positive")


# -- bad input: one clear DatasetError each ---------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"data file not found: .*nope\.csv"):
        CsvDatasetSource(tmp_path / "nope.csv").load()


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a file"):
        CsvDatasetSource(tmp_path).load()


NOBODY = 65534  # the unprivileged user and group of Debian and most Linux systems


def load_error(path: Path) -> str:
    """How loading `path` fails, as "ErrorType: message" ("loaded" if it does not). Run as
    `NOBODY` when this process is root (as in CI), since root reads any file: in a forked child
    that drops its privileges before loading."""
    if os.geteuid() != 0:
        return _load_error(path)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            signal.alarm(30)  # a lock another thread held at the fork: end, do not hang the run
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, _load_error(path).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        outcome = reader.read().decode()
    os.waitpid(pid, 0)
    return outcome or "no answer from the child"


def _load_error(path: Path) -> str:
    try:
        CsvDatasetSource(path).load()
    except Exception as exc:  # reported to the test, which checks its type
        return f"{type(exc).__name__}: {exc}"
    return "loaded"


def test_an_unreadable_file() -> None:
    # In a folder of the system's temporary one that anyone may enter (pytest's own folders are
    # root's only), a file that nobody may read.
    with tempfile.TemporaryDirectory(prefix="sentiment-unreadable-") as name:
        folder = Path(name)
        folder.chmod(0o755)
        path = write(folder / "secret.csv", "text,label\na,b\n")
        path.chmod(0)
        assert load_error(path) == f"DatasetError: cannot read {path}: permission denied"


def test_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is empty"):
        CsvDatasetSource(write(tmp_path / "empty.csv", "")).load()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 4, "not a UTF-8 CSV file"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a UTF-8 CSV file"),
        (gzip.compress(b"text,label\na,b\n"), "not a UTF-8 CSV file"),
        ("text,label\n".encode("utf-16"), "NUL bytes"),
        ("text,label\ncafé,pos\n".encode("latin-1"), "not a UTF-8 CSV file"),
    ],
    ids=["random-bytes", "png", "gzip", "utf-16", "latin-1"],
)
def test_binary_or_non_utf8_content(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        CsvDatasetSource(write(tmp_path / "data.csv", content)).load()


@pytest.mark.parametrize(
    "content",
    [
        'text,label\n"a",pos\nx,y,z,w\n',  # a row with too many fields
        'text,label\n"never closed,pos\nb,neg\n',  # an unterminated quote
    ],
    ids=["too-many-fields", "unterminated-quote"],
)
def test_malformed_csv(tmp_path: Path, content: str) -> None:
    with pytest.raises(DatasetError, match="is not a valid CSV file"):
        CsvDatasetSource(write(tmp_path / "data.csv", content)).load()


def test_missing_columns_are_named_with_the_ones_found(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "review,sentiment,stars\ngood,pos,5\n")
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(path).load()
    message = str(caught.value)
    assert "missing column(s) 'text', 'label'" in message
    assert "columns found: 'review', 'sentiment', 'stars'" in message


def test_one_missing_column_is_named_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,sentiment\ngood,pos\n")
    with pytest.raises(DatasetError, match="missing column\\(s\\) 'label'; columns found: 'text'"):
        CsvDatasetSource(path).load()


def test_a_plain_text_file_reports_what_it_found(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "just some words\nand more words\n")
    with pytest.raises(DatasetError, match="columns found: 'just some words'"):
        CsvDatasetSource(path).load()


@pytest.mark.parametrize(
    "content",
    [
        # An unquoted comma in every text: pandas took the first field for an index, silently.
        "text,label\nI liked it, a lot,pos\nI hated it, truly,neg\n",
        "text,label\na,b,c,pos\nd,e,f,neg\n",  # two more fields: a two-level index
    ],
    ids=["one-more-field", "two-more-fields"],
)
def test_rows_longer_than_the_header_are_refused_not_cut(tmp_path: Path, content: str) -> None:
    with pytest.raises(DatasetError, match=r"rows have [12] more field\(s\) than the header"):
        CsvDatasetSource(write(tmp_path / "data.csv", content)).load()


@pytest.mark.parametrize(
    ("header", "column"),
    [("text,label,label", "label"), ("text,label,text", "text"), ("label,text,label", "label")],
)
def test_a_column_named_twice_is_refused_not_guessed(
    tmp_path: Path, header: str, column: str
) -> None:
    path = write(tmp_path / "d.csv", f"{header}\na,pos,neg\nb,neg,pos\n")
    with pytest.raises(DatasetError, match=f"the column {column!r} appears 2 times in the header"):
        CsvDatasetSource(path).load()


def test_other_columns_may_repeat_and_a_dotted_name_is_not_a_repeat(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "note,text,note,label.1,label\nx,good,y,z,pos\n")
    dataset = CsvDatasetSource(path).load()
    assert (dataset.texts, dataset.labels) == (("good",), ("pos",))


# What a user reads: the whole message, the file first (a CLI prints it as one line).
MESSAGES: dict[str, tuple[str | bytes, str]] = {
    "utf-16": (
        "text,label\n".encode("utf-16"),
        "{path} is not a UTF-8 CSV file: it holds NUL bytes (binary or UTF-16 data)",
    ),
    "latin-1": (
        "text,label\ncafé,pos\n".encode("latin-1"),
        "{path} is not a UTF-8 CSV file: invalid continuation byte at byte 14",
    ),
    "cut short": (
        b"text,label\ncaf\xc3",  # the last character's first byte only
        "{path} is not a UTF-8 CSV file: unexpected end of data at byte 14",
    ),
    "empty": ("", "{path} is empty: no header and no rows"),
    "one more field": (
        "text,label\nI liked it, a lot,pos\n",
        "{path} is not a valid CSV file: its rows have 1 more field(s) than the header has "
        "columns (a text with an unquoted comma?)",
    ),
    "a column twice": (
        "text,label,label\na,pos,neg\n",
        "{path}: the column 'label' appears 2 times in the header: which one to read is ambiguous",
    ),
    "a missing column": (
        "text,sentiment\ngood,pos\n",
        "{path}: missing column(s) 'label'; columns found: 'text', 'sentiment'",
    ),
}


@pytest.mark.parametrize("case", list(MESSAGES.values()), ids=list(MESSAGES))
def test_each_refusal_is_one_message_naming_the_file(
    tmp_path: Path, case: tuple[str | bytes, str]
) -> None:
    content, message = case
    path = write(tmp_path / "data.csv", content)
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(path).load()
    assert str(caught.value) == message.format(path=path)


def test_a_missing_file_or_a_directory_is_named_in_full(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(tmp_path / "nope.csv").load()
    assert str(caught.value) == f"data file not found: {tmp_path / 'nope.csv'}"
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(tmp_path).load()
    assert str(caught.value) == f"data path is not a file: {tmp_path}"


def test_a_malformed_file_names_the_file_then_the_parser_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "data.csv", 'text,label\n"a",pos\nx,y,z,w\n')
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(path).load()
    message = str(caught.value)
    assert message.startswith(f"{path} is not a valid CSV file: ")
    assert "\n" not in message


def test_an_error_of_the_disk_is_one_message_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "data.csv", "text,label\na,pos\n")

    def failing_read(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(pd, "read_csv", failing_read)
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(path).load()
    assert str(caught.value) == f"cannot read {path}: Input/output error"


def test_the_byte_named_is_counted_from_the_start_of_the_file(tmp_path: Path) -> None:
    # Valid UTF-8 for over a MiB, a two-byte character across the first MiB's end, then one
    # byte that is not UTF-8: the message names the file's offset of that byte.
    row = "une critique très émouvante,pos\n".encode()
    good = b"text,label\n" + row * (2**20 // len(row))
    good += b"a" * (2**20 - len(good) - 1) + "é,neg\n".encode() + row * 3
    path = write(tmp_path / "data.csv", good + b"bad \xff,neg\n")
    with pytest.raises(DatasetError) as caught:
        CsvDatasetSource(path).load()
    offset = len(good) + 4
    assert (
        str(caught.value) == f"{path} is not a UTF-8 CSV file: invalid start byte at byte {offset}"
    )

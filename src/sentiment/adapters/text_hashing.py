"""A vectorised re-implementation of `HashingVectorizer.transform` for word n-grams.

scikit-learn builds every n-gram as a Python string and hashes it one at a time: about 1 ms per
IMDB review for 1-3grams, which caps a server at ~1,000 reviews/s per core. This module computes
the very same matrix with numpy over a whole batch at once:

1. lowercase each text (`str.lower`, as scikit-learn does) and join them with a separator;
2. classify code points as word characters (`str.isalnum()` or `_`, exactly what `\\w` matches)
   and find the tokens of the supported token patterns (`byte_tokens`);
3. drop stop words, lay the remaining tokens out as `" ".join(tokens)` in one UTF-8 buffer, so that
   every n-gram is a contiguous slice of it;
4. run MurmurHash3 (x86, 32 bit, seed 0, as `sklearn.utils.murmurhash3_32`) over all slices at
   once, block by block (`murmurhash`);
5. fold hashes into columns like `FeatureHasher`, sum duplicates, binarise and normalise like
   `HashingVectorizer`.

With a `NegationMarking`, the hasher also writes a second block of `n_features` columns: the
n-grams of the same token stream in which the (at most `window`) words after a negator, up to the
next punctuation, are read as `neg_<word>` (`negation`; Das & Chen 2001). The first block is
unchanged; an n-gram with no marked word has the same column in both blocks (plus `n_features`),
so only the n-grams with a marked word are hashed again.

`transform(vectorizer, texts)` returns a matrix equal to `vectorizer.transform(texts)` (same
indices, same float values, same dtype) and falls back to `vectorizer.transform` for settings this
module does not reproduce (`supports(vectorizer)` says which). The tests compare both on real
reviews and on generated Unicode text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment.adapters.byte_tokens import (
    SEPARATOR,
    TOKEN_PATTERNS,
    WORDS_AND_MARKS,
    not_stop_words,
    short_words,
    tokens,
)
from sentiment.adapters.murmurhash import murmurhash3_32
from sentiment.adapters.negation import (
    NegationMarking,
    negation_scope,
    prefixed_buffer,
)

if TYPE_CHECKING:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import HashingVectorizer

_BATCH = 250  # texts per chunk: small enough for the temporary arrays to stay in cache

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class HashingSettings:
    """The settings of a `HashingVectorizer` that NgramHasher reproduces, as plain values.

    Attribute names are HashingVectorizer's, so NgramHasher reads either; `to_json` and
    `from_json` carry them in a model file without scikit-learn.
    """

    token_pattern: str = WORDS_AND_MARKS
    ngram_range: tuple[int, int] = (1, 1)
    n_features: int = 2**20
    stop_words: tuple[str, ...] | None = None
    lowercase: bool = True
    binary: bool = False
    norm: str | None = None
    dtype: str = "float32"
    alternate_sign: bool = False
    analyzer: str = "word"
    input: str = "content"
    preprocessor: None = None
    tokenizer: None = None
    strip_accents: None = None

    @classmethod
    def of(cls, vectorizer: HashingVectorizer | HashingSettings) -> HashingSettings:
        """The settings of a vectorizer. Raises ValueError for those NgramHasher cannot
        reproduce."""
        NgramHasher(vectorizer)  # validates
        v = vectorizer
        return cls(
            token_pattern=str(v.token_pattern),
            ngram_range=(int(v.ngram_range[0]), int(v.ngram_range[1])),
            n_features=int(v.n_features),
            stop_words=tuple(v.stop_words) if v.stop_words is not None else None,
            lowercase=bool(v.lowercase),
            binary=bool(v.binary),
            norm=v.norm,
            dtype=np.dtype(v.dtype).name,
            alternate_sign=bool(v.alternate_sign),
        )

    def to_json(self) -> dict[str, Any]:
        """The settings that matter, as JSON values."""
        return {
            "token_pattern": self.token_pattern,
            "ngram_range": list(self.ngram_range),
            "n_features": self.n_features,
            "stop_words": list(self.stop_words) if self.stop_words is not None else None,
            "lowercase": self.lowercase,
            "binary": self.binary,
            "norm": self.norm,
            "dtype": self.dtype,
            "alternate_sign": self.alternate_sign,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HashingSettings:
        """Settings written by `to_json`. Raises ValueError when they are malformed or not
        reproduced by NgramHasher."""
        known = set(cls().to_json())
        if not isinstance(data, dict) or set(data) != known:
            raise ValueError(f"hashing settings must have exactly the keys {sorted(known)}")
        try:
            low, high = data["ngram_range"]
            stop = data["stop_words"]
            settings = cls(
                token_pattern=str(data["token_pattern"]),
                ngram_range=(int(low), int(high)),
                n_features=int(data["n_features"]),
                stop_words=tuple(str(w) for w in stop) if stop is not None else None,
                lowercase=bool(data["lowercase"]),
                binary=bool(data["binary"]),
                norm=None if data["norm"] is None else str(data["norm"]),
                dtype=np.dtype(str(data["dtype"])).name,
                alternate_sign=bool(data["alternate_sign"]),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed hashing settings: {exc}") from exc
        NgramHasher(settings)  # validates
        return settings


def hasher_for(vectorizer: HashingVectorizer | HashingSettings) -> NgramHasher | None:
    """A fast equivalent of the vectorizer's `transform`, or None when its settings are not
    among those reproduced here (then use `vectorizer.transform`)."""
    try:
        return NgramHasher(vectorizer)
    except ValueError:
        return None


class _ByToken:
    """What `NgramHasher._occurrences` fills for `token_ngrams`."""

    def __init__(self) -> None:
        self.docs = np.zeros(0, dtype=np.int32)
        self.grams = np.zeros((0, 0), dtype=np.int32)


class NgramHasher:
    """`HashingVectorizer.transform` for word n-grams, computed with numpy over a batch.

    Built from a HashingVectorizer or from its `HashingSettings`; needs only numpy, except
    `transform` (scipy) and normalised vectorizers (scikit-learn).
    """

    def __init__(
        self,
        vectorizer: HashingVectorizer | HashingSettings,
        negation: NegationMarking | None = None,
    ) -> None:
        v = vectorizer
        stop = v.stop_words
        if not (
            v.analyzer == "word"
            and v.input == "content"
            and v.preprocessor is None
            and v.tokenizer is None
            and v.strip_accents is None
            and v.token_pattern in TOKEN_PATTERNS
            and (stop is None or isinstance(stop, list | tuple | set | frozenset))
            and all(isinstance(w, str) for w in (stop or ()))
            and v.alternate_sign is False
            and v.norm in (None, "l1", "l2")
            and len(v.ngram_range) == 2
            and 1 <= v.ngram_range[0] <= v.ngram_range[1]
            and 0 < int(v.n_features) <= 2**31
            and np.dtype(v.dtype).kind == "f"
        ):
            raise ValueError(f"settings not reproduced by NgramHasher: {v!r}")
        self._n_features = int(v.n_features)
        self._ngram_range = (int(v.ngram_range[0]), int(v.ngram_range[1]))
        self._min_run, self._marks = TOKEN_PATTERNS[v.token_pattern]
        self._lowercase = bool(v.lowercase)
        self._stop_words = sorted({w.encode("utf-8") for w in (stop or ()) if w})
        self._binary = bool(v.binary)
        self._norm: str | None = v.norm
        self._dtype = np.dtype(v.dtype)
        self._negation = negation
        self._negators: list[bytes] = []
        self._negator_keys = np.zeros(0, dtype=np.uint64)
        if negation is not None:
            if self._n_features > 2**30 or negation.window < 1:
                raise ValueError(f"negation marking needs n_features <= 2**30: {v!r}")
            # Negators are matched against the tokens as hashed: a lowercased token never equals
            # a word that lowercasing changes, so such a negator would silently mark nothing.
            cased = sorted({w for w in negation.negators if w.lower() != w})
            if self._lowercase and cased:
                raise ValueError(
                    f"negators {cased} never match: the vectorizer lowercases the text "
                    "(lowercase=True), so negators must be lower case"
                )
            negators = sorted({w.encode("utf-8") for w in negation.negators if w})
            # Words of up to 8 bytes are matched by their bytes as one 64-bit key; longer ones
            # byte by byte.
            self._negator_keys = np.array(
                sorted(int.from_bytes(w, "little") for w in negators if len(w) <= 8),
                dtype=np.uint64,
            )
            self._negators = [w for w in negators if len(w) > 8]

    @property
    def n_features(self) -> int:
        """Columns of one block (of the vectorizer)."""
        return self._n_features

    @property
    def ngram_max(self) -> int:
        """Tokens in the longest n-grams."""
        return self._ngram_range[1]

    @property
    def n_columns(self) -> int:
        """Columns of the matrix: one block, or two with negation marking."""
        return self._n_features * (2 if self._negation is not None else 1)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The matrix `HashingVectorizer.transform(texts)` returns, as a CSR matrix."""
        import scipy.sparse as sp

        data, indices, indptr = self.arrays(texts, normalized=False)
        x = sp.csr_matrix((data, indices, indptr), shape=(len(texts), self.n_columns))
        if self._norm is not None:
            from sklearn.preprocessing import normalize

            x = normalize(x, norm=self._norm, copy=False)
        return x

    def arrays(self, texts: Sequence[str], normalized: bool = True) -> tuple[Array, Array, Array]:
        """(data, indices, indptr) of the CSR matrix `transform(texts)` returns, without scipy.

        With `normalized` (the default), rows are normalised as the vectorizer's `norm` says.
        """
        self._check(texts)
        chunks = [self._arrays(texts[i : i + _BATCH]) for i in range(0, len(texts), _BATCH)]
        data, indices, indptr = _stack([c[0] for c in chunks], len(texts))
        if normalized and self._norm is not None:
            normalize_rows(data, indptr, self._norm)
        return data, indices, indptr

    @property
    def exact_spans(self) -> bool:
        """Whether `arrays_with_spans` gives every span the row its text alone would get, for
        spans cut at sentence ends (`context_scoring.sentence_spans`): no negation marking, or
        one whose scopes always end between two sentences (at "!" and "?", marks that are
        tokens, and at "<br />", unless "br" is a negator there)."""
        if self._negation is None:
            return True
        marks_end_scopes = set(self._marks) >= {"!", "?"} and not (
            {b"!", b"?"} & set(self._stop_words)
        )
        br_negates = self._is_negator_word(b"br") and b"br" not in self._stop_words
        return marks_end_scopes and not br_negates

    def arrays_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[tuple[Array, Array, Array], tuple[Array, Array, Array]]:
        """The CSR arrays of the texts (as `arrays`), and those of their spans, in one pass.

        `spans[i]` holds (start, end) character offsets into `texts[i]`, in order and disjoint;
        the spans of all texts are the rows of the second matrix, in order. A span's row holds
        the n-grams of the text that lie wholly inside it. It equals `arrays` of the span's
        text alone when tokens and negation scopes never cross the span's edges: the spans of
        `context_scoring.sentence_spans` with `exact_spans` (see there).
        """
        self._check(texts)
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        chunks = [
            self._arrays(texts[i : i + _BATCH], spans[i : i + _BATCH])
            for i in range(0, len(texts), _BATCH)
        ]
        n_spans = sum(len(s) for s in spans)
        whole = _stack([c[0] for c in chunks], len(texts))
        parts = _stack([c[1] for c in chunks if c[1] is not None], n_spans)
        if self._norm is not None:
            normalize_rows(whole[0], whole[2], self._norm)
            normalize_rows(parts[0], parts[2], self._norm)
        return whole, parts

    @property
    def binary_unnormalized(self) -> bool:
        """Whether every value is 1 (binary, no normalisation): `pairs_with_spans` applies."""
        return self._binary and self._norm is None

    def pairs_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
        """The 1s of the two matrices `arrays_with_spans` gives, as (rows, columns) pairs:
        those of the texts in row order, each row's columns ascending (as in CSR); those of the
        spans grouped by text, a span's columns ascending but the spans of a text interleaved.

        One sort serves both (by text, column, span) instead of one per matrix: scoring a row
        needs its pairs, not the CSR order. Only for `binary_unnormalized` hashers.
        """
        if not self.binary_unnormalized:
            raise ValueError("pairs_with_spans is for binary hashers with norm=None")
        self._check(texts)
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        parts: list[tuple[Array, Array, Array, Array]] = []
        first_text = first_span = 0
        while first_text < len(texts):
            chunk = texts[first_text : first_text + _BATCH]
            chunk_spans = spans[first_text : first_text + _BATCH]
            if not self._key_fits(chunk, chunk_spans):  # a text of millions of spans
                chunk, chunk_spans = chunk[:1], chunk_spans[:1]  # one text at a time
            rows, columns, span_rows, span_columns = self._pairs(chunk, chunk_spans)
            parts.append((rows + first_text, columns, span_rows + first_span, span_columns))
            first_text += len(chunk)
            first_span += sum(len(s) for s in chunk_spans)
        rows, columns, span_rows, span_columns = (
            np.concatenate([p[k] for p in parts]) for k in range(4)
        )
        return (rows, columns), (span_rows, span_columns)

    def token_ngrams(self, texts: Sequence[str]) -> tuple[Array, Array]:
        """Every token of the texts in order, with the n-grams that end at it: (the text of
        each token, int32 (n_tokens,); the columns of the n-grams of 1..ngram_max tokens ending
        at it, int32 (ngram_max, n_tokens), -1 where an n-gram would start before its text or is
        shorter than the vectorizer's smallest). The n-grams are those `transform` counts.

        This is what an n-gram language model reads (`class_lm`). Not for negation marking.
        """
        if self._negation is not None:
            raise ValueError("token_ngrams is for hashers without negation marking")
        self._check(texts)
        docs: list[Array] = []
        grams: list[Array] = []
        for i in range(0, len(texts), _BATCH):
            by_token = _ByToken()
            self._occurrences(texts[i : i + _BATCH], None, by_token)
            docs.append(by_token.docs + i)
            grams.append(by_token.grams)
        return np.concatenate(docs).astype(np.int32), np.concatenate(grams, axis=1)

    def _key_bits(self, spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[int, int]:
        """Bits of the column and of the span (within its text, + 1) in `_pairs`' sort key."""
        most = max((len(s) for s in spans), default=0)
        return (self.n_columns - 1).bit_length(), (most + 1).bit_length()

    def _key_fits(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> bool:
        """Whether `_pairs`' sort key of a chunk fits in 63 bits. It does for one text: at most
        31 bits of column, and fewer than 2**31 spans (texts of 2 GB are beyond the hasher)."""
        column_bits, span_bits = self._key_bits(spans)
        return (len(texts) - 1).bit_length() + column_bits + span_bits <= 63

    def _pairs(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[Array, Array, Array, Array]:
        """`pairs_with_spans` of a chunk: (rows, columns, span rows, span columns), int64."""
        doc_of, columns, span_of = self._occurrences(texts, spans)
        counts = np.fromiter((len(s) for s in spans), np.int64, len(spans))
        first_span = np.zeros(len(spans), dtype=np.int64)
        np.cumsum(counts[:-1], out=first_span[1:])
        if span_of is None:  # no n-gram at all
            nothing = np.zeros(0, dtype=np.int64)
            return nothing, nothing, nothing, nothing
        docs = np.zeros(columns.size, np.int64) if doc_of is None else doc_of.astype(np.int64)
        column_bits, span_bits = self._key_bits(spans)
        # Sort key: text, column, then the span within the text + 1 (0: the n-gram crosses a
        # span edge, so it belongs to the text only).
        keys = docs << (column_bits + span_bits)
        keys |= columns.astype(np.int64) << span_bits
        keys |= np.where(span_of >= 0, span_of - first_span[docs] + 1, 0)
        keys.sort()
        text_column = keys >> span_bits
        new = np.empty(keys.size, dtype=bool)
        new[:1] = True
        np.not_equal(text_column[1:], text_column[:-1], out=new[1:])
        whole = text_column[new]
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        span_mask = (1 << span_bits) - 1
        new &= (keys & span_mask) != 0
        in_spans = keys[new]
        column_mask = (1 << column_bits) - 1
        span_docs = in_spans >> (column_bits + span_bits)
        return (
            whole >> column_bits,
            whole & column_mask,
            first_span[span_docs] + (in_spans & span_mask) - 1,
            (in_spans >> span_bits) & column_mask,
        )

    @staticmethod
    def _check(texts: Sequence[str]) -> None:
        if isinstance(texts, str):  # a Sequence[str] too: of its characters
            raise ValueError("Iterable over raw text documents expected, string object received.")
        if len(texts) == 0:
            raise ValueError("Cannot vectorize empty sequence.")
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be str")

    def _is_negator_word(self, word: bytes) -> bool:
        key = int.from_bytes(word, "little")
        return (len(word) <= 8 and key in self._negator_keys.tolist()) or word in self._negators

    def one(self, text: str) -> tuple[Array, Array]:
        """Row 0 of `transform([text])` as (column indices, values), without building a matrix.

        Only for vectorizers without normalisation (`norm=None`): values are counts, or 1s.
        """
        if self._norm is not None:
            raise ValueError("one() is for vectorizers with norm=None")
        (values, columns, _), _ = self._arrays([text])
        return columns, values

    def _arrays(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None = None
    ) -> tuple[tuple[Array, Array, Array], tuple[Array, Array, Array] | None]:
        """(data, indices, indptr) of the CSR matrix of a chunk (binary values set already),
        and with `spans` those of the spans' matrix (see `arrays_with_spans`)."""
        n_docs = len(texts)
        n_spans = 0 if spans is None else sum(len(s) for s in spans)
        doc_of, columns, span_of_gram = self._occurrences(texts, spans)
        whole = self._rows(doc_of, columns, n_docs)
        if span_of_gram is None:
            return whole, None if spans is None else self._rows(None, columns[:0], n_spans)
        inside = span_of_gram >= 0
        return whole, self._rows(span_of_gram[inside], columns[inside], n_spans)

    def _occurrences(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]] | None,
        by_token: _ByToken | None = None,
    ) -> tuple[Array | None, Array, Array | None]:
        """Every n-gram occurrence of a chunk: (the text holding it, or None when the chunk is
        one text; its column; with `spans`, the span wholly holding it or -1, else None).

        With `by_token` (no negation marking), also fills it with each token's text and the
        columns of the n-grams ending at it (see `token_ngrams`)."""
        n_docs = len(texts)
        joined = texts[0] if n_docs == 1 else SEPARATOR.join(texts)
        # One `lower` for the whole batch equals one per text: the separator is not a cased or
        # case-ignorable character, so it ends the context of the final-sigma rule like a text end.
        lowered = joined.lower() if self._lowercase else joined
        raw = lowered.encode("utf-8")
        u8: Array = np.frombuffer(raw, dtype=np.uint8)

        starts, ends = tokens(u8, raw.isascii(), self._min_run, self._marks)
        if self._stop_words and starts.size:
            keep = not_stop_words(u8, starts, ends, self._stop_words)
            starts, ends = starts[keep], ends[keep]
        docs = None if n_docs == 1 else self._documents(texts, joined, u8, starts)
        span_of = None  # the span holding each token, -1 for none
        if spans is not None:
            span_of = self._token_spans(texts, spans, len(lowered) == len(joined), u8, starts, ends)

        # Every kept token copied into one buffer, separated by " ": the text of any n-gram is then
        # the contiguous slice from the start of its first token to the end of its last one.
        n_tokens = starts.size
        token_len = (ends - starts).astype(np.int32)
        step = token_len + 1
        out_ends = step.cumsum(dtype=np.int32)
        total = int(out_ends[-1]) if n_tokens else 0
        out_starts = out_ends - step
        out_ends -= 1  # where the " " after each token goes
        source = np.repeat(starts.astype(np.int32) - out_starts, step)
        source += np.arange(total, dtype=np.int32)
        source[out_ends] = 0  # (would read the byte after the token; set to " " below)
        buffer = np.zeros(total + 4, dtype=np.uint8)  # every 4-byte read stays in range
        u8.take(source, out=buffer[:total])
        buffer[out_ends] = 0x20

        # n-grams of n tokens that start at every token and stay inside one text.
        gram_starts: list[Array] = []
        gram_ends: list[Array] = []
        gram_docs: list[Array] = []
        gram_first: list[Array] = []  # index of the first token (negation marking, spans)
        gram_n: list[Array] = []
        marking = self._negation is not None or span_of is not None or by_token is not None
        for n in range(self._ngram_range[0], self._ngram_range[1] + 1):
            count = n_tokens - n + 1
            if count <= 0:
                break
            first, last = out_starts[:count], out_ends[n - 1 :]
            token = np.arange(count, dtype=np.int32) if marking else None
            if docs is not None:
                inside = docs[:count] == docs[n - 1 :]
                first, last = first[inside], last[inside]
                gram_docs.append(docs[:count][inside])
                if token is not None:
                    token = token[inside]
            gram_starts.append(first)
            gram_ends.append(last)
            if token is not None:
                gram_first.append(token)
                gram_n.append(np.full(token.size, n, dtype=np.int32))
        if by_token is not None:
            by_token.docs = np.zeros(n_tokens, np.int32) if docs is None else docs
            by_token.grams = np.full((self._ngram_range[1], n_tokens), -1, dtype=np.int32)
        if not gram_starts:  # no text has enough tokens for one n-gram
            nothing = np.zeros(0, dtype=np.int64)
            return (None if docs is None else nothing), nothing, None
        start = np.concatenate(gram_starts)
        length = np.concatenate(gram_ends) - start

        doc_of = np.concatenate(gram_docs) if docs is not None else None
        marked_grams = None
        if self._negation is not None:
            # The n-grams holding a marked word, hashed in the same call as the plain ones.
            marked_grams = self._marked_grams(u8, starts, ends, docs, gram_first, gram_n, token_len)
        again = rehashed = np.zeros(0, dtype=np.int64)
        if marked_grams is None:
            columns = _column(murmurhash3_32(buffer, start, length), self._n_features)
        else:
            again, buffer2, start2, length2 = marked_grams
            both = np.concatenate([buffer[:total], buffer2])
            hashes = murmurhash3_32(
                both, np.concatenate([start, start2 + total]), np.concatenate([length, length2])
            )
            columns = _column(hashes, self._n_features)
            columns, rehashed = columns[: start.size], columns[start.size :]
        if by_token is not None:
            orders = np.concatenate(gram_n)
            by_token.grams[orders - 1, np.concatenate(gram_first) + orders - 1] = columns
        span_of_gram = None
        if span_of is not None:
            # An n-gram lies in a span when its first and last tokens do (spans are contiguous).
            first = np.concatenate(gram_first)
            span_first = span_of[first]
            span_of_gram = np.where(
                span_first == span_of[first + np.concatenate(gram_n) - 1], span_first, -1
            )
        if self._negation is not None:
            # Block 2: the plain column, but for the n-grams with a marked word.
            block = columns + self._n_features
            block[again] = rehashed + self._n_features
            columns = np.concatenate([columns, block])
            if doc_of is not None:
                doc_of = np.concatenate([doc_of, doc_of])
            if span_of_gram is not None:
                span_of_gram = np.concatenate([span_of_gram, span_of_gram])
        return doc_of, columns, span_of_gram

    def _rows(
        self, row_of: Array | None, columns: Array, n_rows: int
    ) -> tuple[Array, Array, Array]:
        """(data, indices, indptr) of the canonical CSR matrix with a 1 (binary) or the count of
        every (row, column) pair; `row_of` None: all in row 0."""
        # Sort by (row, column) and count repeats.
        if row_of is None:
            keys = columns.astype(np.int64)
        else:
            keys = row_of.astype(np.int64) << 32
            keys |= columns
        keys.sort()
        new = np.empty(keys.size, dtype=bool)
        new[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        unique = keys[new]
        if self._binary:
            counts = np.ones(unique.size, dtype=self._dtype)
        else:
            where_new = new.nonzero()[0]
            counts = np.empty(unique.size, dtype=self._dtype)
            counts[:-1] = where_new[1:] - where_new[:-1]
            counts[-1:] = keys.size - where_new[-1:]
        indptr = np.zeros(n_rows + 1, dtype=np.int32)
        if row_of is None:
            indptr[1:] = unique.size
        else:
            np.cumsum(np.bincount(unique >> 32, minlength=n_rows), out=indptr[1:])
            unique &= 0xFFFFFFFF
        return counts, unique.astype(np.int32), indptr

    def _token_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        same_length: bool,
        u8: Array,
        starts: Array,
        ends: Array,
    ) -> Array:
        """The index of the span (numbered over the chunk) holding each token, or -1.

        Spans are character offsets into the texts; the tokens are byte offsets into the
        joined, lowercased UTF-8 buffer. `same_length`: lowercasing kept every character one
        character (then offsets carry over; otherwise they are mapped text by text).
        """
        begin: list[int] = []
        end: list[int] = []
        offset = 0  # where the text starts in the joined, lowercased string
        for text, text_spans in zip(texts, spans, strict=True):
            # Every span, not only the first start and last end: the mapping below reads `at`
            # at each offset (a negative one would count from the text's end).
            n_chars = len(text)
            if not all(0 <= s <= n_chars and 0 <= e <= n_chars for s, e in text_spans):
                raise ValueError("a span lies outside its text")
            if same_length or not self._lowercase:
                size = n_chars
                begin.extend(offset + s for s, _ in text_spans)
                end.extend(offset + e for _, e in text_spans)
            else:
                # Lowercasing maps each character to one or more, whatever its neighbours
                # (the final sigma changes a character, not a length).
                at = [0]
                for c in text:
                    at.append(at[-1] + len(c.lower()))
                size = at[-1]
                begin.extend(offset + at[s] for s, _ in text_spans)
                end.extend(offset + at[e] for _, e in text_spans)
            offset += size + 1
        span_begin = np.array(begin, dtype=np.int64)
        span_end = np.array(end, dtype=np.int64)
        if not bool(np.all(span_begin[1:] >= span_end[:-1])) or bool(np.any(span_end < span_begin)):
            raise ValueError("spans must be in order and disjoint")
        if u8.size and not bool((u8 < 0x80).all()):
            first_bytes = np.zeros(u8.size + 1, dtype=np.int64)
            np.cumsum((u8 & 0xC0) != 0x80, out=first_bytes[1:])
            char_start, char_end = first_bytes[starts], first_bytes[ends]
        else:
            char_start, char_end = starts, ends
        span = span_begin.searchsorted(char_start, side="right") - 1
        nearest = np.maximum(span, 0)
        inside = (span >= 0) & (char_end <= span_end.take(nearest) if span_end.size else False)
        result: Array = np.where(inside, span, -1).astype(np.int64)
        return result

    def _marked_grams(
        self,
        u8: Array,
        starts: Array,
        ends: Array,
        docs: Array | None,
        gram_first: list[Array],
        gram_n: list[Array],
        token_len: Array,
    ) -> tuple[Array, Array, Array, Array] | None:
        """The n-grams with a marked word: (their indices among all n-grams, the buffer of the
        marked stream, their starts and lengths in it); None when no word is marked."""
        assert self._negation is not None
        is_negator = short_words(u8, starts, ends, self._negator_keys)
        if self._negators:
            is_negator |= ~not_stop_words(u8, starts, ends, self._negators)
        marked = negation_scope(u8, starts, is_negator, docs, self._negation.window, self._marks)
        if not marked.any():
            return None
        first = np.concatenate(gram_first)
        last = first + np.concatenate(gram_n) - 1
        # How many marked tokens precede each token: an n-gram holds one if the count grows.
        before = np.zeros(marked.size + 1, dtype=np.int32)
        np.cumsum(marked, out=before[1:])
        again = (before[last + 1] - before[first]).nonzero()[0]
        # Only the tokens near a marked one can be in those n-grams: the buffer holds just them
        # (consecutive tokens of an n-gram stay consecutive in it).
        near = marked.copy()
        for d in range(1, self._ngram_range[1]):
            near[d:] |= marked[:-d]
            near[:-d] |= marked[d:]
        kept = near.nonzero()[0]
        position = np.cumsum(near, dtype=np.int32) - 1  # of each kept token among the kept
        buffer, out_starts, out_ends = prefixed_buffer(
            u8, starts[kept], token_len[kept], marked[kept]
        )
        start = out_starts[position[first[again]]]
        length = out_ends[position[last[again]]] - start
        return again, buffer, start, length

    def _documents(self, texts: Sequence[str], joined: str, u8: Array, starts: Array) -> Array:
        """The text each token belongs to."""
        if joined.count(SEPARATOR) == len(texts) - 1:
            boundaries = (u8 == 0).nonzero()[0]
        else:  # some text holds the separator itself: measure every text instead
            sizes = np.fromiter(
                (len((t.lower() if self._lowercase else t).encode("utf-8")) for t in texts),
                np.int64,
                len(texts),
            )
            boundaries = np.cumsum(sizes[:-1] + 1) - 1
        docs: Array = boundaries.searchsorted(starts).astype(np.int32)
        return docs


def _stack(chunks: list[tuple[Array, Array, Array]], n_rows: int) -> tuple[Array, Array, Array]:
    """The CSR arrays of the chunks' rows one after another (indptr as int64)."""
    if len(chunks) == 1:
        data, indices, indptr = chunks[0]
        return data, indices, indptr.astype(np.int64)
    data = np.concatenate([c[0] for c in chunks])
    indices = np.concatenate([c[1] for c in chunks])
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    row = 0
    for *_, chunk_indptr in chunks:
        n = chunk_indptr.size - 1
        indptr[row + 1 : row + n + 1] = chunk_indptr[1:] + indptr[row]
        row += n
    return data, indices, indptr


def normalize_rows(data: Array, indptr: Array, norm: str) -> None:
    """Divide the values of every CSR row by its l1 or l2 norm, in place (rows of norm 0 stay).

    The very numbers scikit-learn's `normalize` gives: absolute values or squares in the data's
    dtype, summed in float64; each value divided by that float64 norm and rounded once to the
    data's dtype (dividing by the norm rounded to float32 would round twice)."""
    counts = np.diff(indptr)
    if data.size == 0:
        return
    rows = np.repeat(np.arange(counts.size), counts)
    values = np.abs(data) if norm == "l1" else np.square(data)
    totals = np.bincount(rows, values.astype(np.float64), minlength=counts.size)
    if norm == "l2":
        np.sqrt(totals, out=totals)
    elif norm != "l1":
        raise ValueError(f"unknown norm {norm!r}")
    totals[totals == 0.0] = 1.0
    np.divide(data, totals[rows], out=data, casting="same_kind")


def _column(hashes: Array, n_features: int) -> Array:
    """FeatureHasher's column: abs(h) % n_features, with abs(-2**31) taken as 2**31."""
    h = hashes.astype(np.int64)
    return np.abs(h) % n_features

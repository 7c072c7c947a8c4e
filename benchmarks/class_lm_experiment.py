"""Experiment: class-conditional n-gram language models as two extra inputs of `nblr-ctx`'s stacker.

The prototype of 2026-11-27, kept as it was measured. The product has since built the language
models on `nblr` instead, as the default model type `nblr-lm` (`class_lm`, `lm_model`,
`lm_scoring`): hashed n-grams instead of a vocabulary, no begin padding, pruning by the count over
both classes, and the LLR alone beside the NB-LR score (benchmarks/README.md).

The LM. Tokens: `\\w+|[!?]` on the lowercased text, "br" dropped (the "<br />" breaks), mapped to
ids of a vocabulary of every loaded text (only its size V enters the model, as a constant).
Each review is padded with order-1 begin tokens (id 0); only real tokens are predicted. One LM
per class, fitted on that class's training reviews, with interpolated absolute discounting
(D = 0.75):

    p1(w)     = (c(w) + 1) / (N + V)                            (add-one unigrams)
    pn(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * p(n-1)(w | h')
                when the history h (n-1 tokens) is stored, else p(n-1)(w | h')

c(h) = sum of the counts of the n-grams that continue h, N1+(h .) = how many distinct ones
(both from the full counts), h' = h without its first token. n-grams are exact: a 64-bit
multiplicative hash of their ids (and length), looked up by binary search; collisions are
ignored. Pruning (`--min-count m`, m > 1): n-grams (n >= 2) seen fewer than m times are
dropped (c(h w) = 0), and history statistics are kept only for histories with c(h) >= m, as a
table of stored (n-1)-grams would hold them ("rare histories dropped"). Probabilities then do
not sum to one; they are scores.

Stacker inputs: LLR = sum over the review's tokens of log p_pos - log p_neg, and LLR / tokens.
Out of fold, as the base aggregates: on the training part, the LMs of the 3 inner folds (the
same StratifiedKFold(3, shuffle, seed 0) as `NegationContextClassifier.fit`) score the fold
each did not see; the test part is scored by LMs fitted on the whole training part. The base
is `nblr-ctx` itself: same hasher (`NegationContextClassifier().hasher()`), `fit_folded`
settings, 8 `aggregates` of out-of-fold review and sentence scores, stacker
LogisticRegression(C=1) on standardised inputs; the LM variants add the 2 columns to its 8.

Measured 2026-11-27 (prototype; 25,000 IMDB reviews; split = the training CLI's 20%, seed 42;
CV = model_quality.py's 5 folds, seed 42):

    base nblr-ctx (8 aggregates)             split 0.9184   CV 0.9216
    + LLR, LLR/len, LM3 >= 2, pruned hist.   split 0.9252   CV 0.9257  (LMs: +11-12 s per fit)
    other prototype CV means: LM2 0.9248, LM3 unpruned 0.9265, LM4 0.9266, LM3 >= 3 0.9245,
    LM3 >= 2 keeping all history statistics 0.9255

This script reproduces them, folds included (2026-11-27 15:28 UTC, `--cv`: 3 min 44 s wall,
peak RSS 2.5 GB, LMs +13.0 s per fit (median), load average 6.4-2.8 on 2 shared cores; split
only: 56 s, load 2.9-4.0). Table entries of LM3 >= 2 on the split's 20,000 training reviews,
both classes in one table (unigrams, kept bigrams and trigrams; a kept history is a kept
(n-1)-gram and shares its entry): 680,258 here, 677,065 in the prototype's table, which had no
begin-token contexts.

Building it into the product needs: a numpy scoring path in `context_scoring` (serving.npz has
no scikit-learn) that gives the same LLR as this script; one merged table of keyed entries with
short fingerprints (e.g. 16 bits instead of 64-bit keys) and per class two float16 values
(discounted probability max(c - D, 0) / c(h), back-off weight D N1+(h .) / c(h)): 8.1 MB packed
with 32-bit keys, but the prototype's 2-choice bucket table (2^19 x 4 slots, load 0.32) took
4.2 MB of fingerprints + 16.8 MB of values, so it must be packed tighter; the NB-LR
coefficients in float16 (split 0.9182 vs 0.9184 in float32) so that both fit the 20 MB
serving-file target; the stacker grows from 8 to 10 inputs (`Stacker`, `N_AGGREGATES`, the
skops and JSON formats); the vocabulary from the training texts only. Risk: single-review
latency: the prototype's scorer (regex + vocabulary + 3 table lookups) added 0.28-0.31 ms p50
(p99 ~1.2 ms) per review on top of today's scorer, against the 0.5 ms p50 target.

    python benchmarks/class_lm_experiment.py                  # the split (~1 min, 2.4 GB RSS)
    python benchmarks/class_lm_experiment.py --cv             # + 5-fold CV (~4 min)
    python benchmarks/class_lm_experiment.py --order 2 3 4 --min-count 1 2
    python benchmarks/class_lm_experiment.py --smoke --cv     # 1,000 reviews, 2 folds: seconds
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from _common import DEFAULT_DATA
from sentiment.adapters.context_model import NegationContextClassifier
from sentiment.adapters.context_scoring import aggregates, sentence_spans
from sentiment.adapters.csv_dataset import CsvDatasetSource
from sentiment.adapters.nb_logistic import NbSettings, fit_folded
from sentiment.domain.model import LabelledDataset
from sentiment.domain.split import stratified_split

Array = np.ndarray[Any, Any]
TOKEN = re.compile(r"\w+|[!?]")
MIX = np.uint64(0x9E3779B97F4A7C15)
DISCOUNT = 0.75
Variants = list[tuple[int, int]]  # (order, min count)


# -- the language model ---------------------------------------------------------------------


def _keys(stream: Array, ends: Array, length: int) -> Array:
    """64-bit key of the `length` tokens of `stream` ending at each of `ends`."""
    key = np.full(ends.size, length, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for back in range(length - 1, -1, -1):
            key = key * MIX + stream[ends - back] + np.uint64(1)
    return key


class Corpus:
    """Token ids of every text, and for each real token its n-gram and history keys."""

    def __init__(self, texts: list[str], order: int) -> None:
        vocab: dict[str, int] = {}
        docs = []
        for text in texts:
            words = [w for w in TOKEN.findall(text.lower()) if w != "br"]
            ids = (vocab.setdefault(w, len(vocab) + 1) for w in words)
            docs.append(np.fromiter(ids, np.int64, len(words)))
        self.vocab_size = len(vocab) + 1
        self.lengths = np.array([d.size for d in docs], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        pad = order - 1
        padding = np.zeros(pad, np.int64)
        stream = np.concatenate([np.concatenate([padding, d]) for d in docs]).astype(np.uint64)
        real = np.ones(stream.size, dtype=bool)
        starts = np.concatenate([[0], np.cumsum(self.lengths + pad)[:-1]])
        for j in range(pad):
            real[starts + j] = False
        at = np.flatnonzero(real)
        self.words = stream[at].astype(np.int64)
        self.grams = [_keys(stream, at, n) for n in range(1, order + 1)]
        self.hists = [_keys(stream, at - 1, n - 1) for n in range(1, order + 1)]  # [0]: unused

    def positions(self, rows: Array) -> Array:
        """Token positions of the texts `rows`, in order."""
        counts, first = self.lengths[rows], self.first[rows]
        offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return np.repeat(first - offset, counts) + np.arange(counts.sum())


class ClassLM:
    """Interpolated absolute discounting over the tokens `at` (see the module docstring)."""

    def __init__(self, corpus: Corpus, at: Array, order: int, min_count: int) -> None:
        self.vocab_size = corpus.vocab_size
        self.unigram = np.bincount(corpus.words[at], minlength=corpus.vocab_size).astype(float)
        self.stored = [np.unique(corpus.grams[0][at])]  # keys a table would hold
        self.tables = []
        for n in range(2, order + 1):
            grams, first, counts = np.unique(
                corpus.grams[n - 1][at], return_index=True, return_counts=True
            )
            hists, inverse = np.unique(corpus.hists[n - 1][at][first], return_inverse=True)
            hist_count = np.bincount(inverse, weights=counts)
            followers = np.bincount(inverse).astype(float)
            if min_count > 1:
                keep = counts >= min_count
                grams, counts = grams[keep], counts[keep]
                kept = hist_count >= min_count
                hists, hist_count, followers = hists[kept], hist_count[kept], followers[kept]
            self.tables.append((grams, counts.astype(float), hists, hist_count, followers))
            self.stored += [grams, hists]

    def logprob(self, corpus: Corpus, at: Array) -> Array:
        words = corpus.words[at]
        p = (self.unigram[words] + 1.0) / (self.unigram.sum() + self.vocab_size)
        for n, (grams, counts, hists, hist_count, followers) in enumerate(self.tables, 2):
            g, h = corpus.grams[n - 1][at], corpus.hists[n - 1][at]
            i = np.minimum(np.searchsorted(grams, g), max(grams.size - 1, 0))
            c = np.where(grams[i] == g, counts[i], 0.0) if grams.size else np.zeros(g.size)
            if not hists.size:
                continue
            j = np.minimum(np.searchsorted(hists, h), hists.size - 1)
            found = hists[j] == h
            ch = np.maximum(np.where(found, hist_count[j], 0.0), 1.0)
            nh = np.where(found, followers[j], 0.0)
            p = np.where(found, np.maximum(c - DISCOUNT, 0.0) / ch + DISCOUNT * nh / ch * p, p)
        return np.log(p)


def lm_inputs(
    corpus: Corpus, positive: Array, train: Array, score: Array, order: int, min_count: int
) -> tuple[Array, int]:
    """(LLR, LLR / tokens) of the texts `score` by LMs fitted on `train`; table entries."""
    at = corpus.positions(score)
    models = [
        ClassLM(corpus, corpus.positions(train[positive[train] == cls]), order, min_count)
        for cls in (True, False)
    ]
    diff = models[0].logprob(corpus, at) - models[1].logprob(corpus, at)
    owner = np.repeat(np.arange(score.size), corpus.lengths[score])
    llr = np.bincount(owner, weights=diff, minlength=score.size)
    entries = np.unique(np.concatenate([k for m in models for k in m.stored])).size
    return np.column_stack([llr, llr / np.maximum(corpus.lengths[score], 1)]), entries


# -- nblr-ctx, as `NegationContextClassifier.fit` does it -----------------------------------


class Hashed:
    """The review and sentence rows of every text, hashed once by nblr-ctx's hasher."""

    def __init__(self, texts: list[str]) -> None:
        estimator = NegationContextClassifier()
        hasher = estimator.hasher()
        assert hasher.exact_spans
        spans = [sentence_spans(t) for t in texts]
        whole, parts = hasher.arrays_with_spans(texts, spans)
        self.reviews = sp.csr_matrix(whole, shape=(len(texts), hasher.n_columns))
        self.counts = np.array([len(s) for s in spans], dtype=np.int64)
        self.sentences = sp.csr_matrix(parts, shape=(int(self.counts.sum()), hasher.n_columns))
        self.first = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        names = ("C", "nb_alpha", "beta", "min_df", "max_iter", "random_state")
        settings = {name: getattr(estimator, name) for name in names}
        self.settings = NbSettings(
            **settings, calibrate=False
        )  # as its fit: the stacker calibrates

    def aggregates(self, rows: Array, models: list[tuple[Array, float]], model_of: Array) -> Array:
        counts = self.counts[rows]
        offset = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sentence_rows = np.repeat(self.first[rows] - offset, counts) + np.arange(counts.sum())
        review, sentences = self.reviews[rows], self.sentences[sentence_rows]
        review_scores, sentence_scores = np.zeros(rows.size), np.zeros(sentence_rows.size)
        sentence_model = np.repeat(model_of, counts)
        for k, (coef, intercept) in enumerate(models):
            mine, theirs = model_of == k, sentence_model == k
            review_scores[mine] = review[mine] @ coef.astype(np.float64) + intercept
            sentence_scores[theirs] = sentences[theirs] @ coef.astype(np.float64) + intercept
        return aggregates(review_scores, sentence_scores, counts)


def inner_folds(labels: Array, k: int = 3, seed: int = 0) -> Array:
    model_of = np.zeros(labels.size, dtype=np.int64)
    folds = StratifiedKFold(k, shuffle=True, random_state=seed)
    for j, (_, held) in enumerate(folds.split(np.zeros(labels.size), labels)):
        model_of[held] = j
    return model_of


def stacker_accuracy(
    train_in: list[Array], test_in: list[Array], y_train: Array, y_test: Array
) -> float:
    train, test = np.column_stack(train_in), np.column_stack(test_in)
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale == 0.0] = 1.0
    stack = LogisticRegression(C=1.0, max_iter=1000).fit((train - mean) / scale, y_train)
    return float(((stack.decision_function((test - mean) / scale) > 0) == y_test).mean())


def evaluate(
    hashed: Hashed, corpus: Corpus, labels: Array, train: Array, test: Array, variants: Variants
) -> dict[str, tuple[float, float, int]]:
    """{variant: (accuracy, fit seconds, LM entries)}: base, then base + each LM variant."""
    classes = np.array(sorted(set(labels.tolist())))
    positive = labels == classes[1]
    y_train, y_test = positive[train], positive[test]

    def fit(rows: Array) -> tuple[Array, float]:
        coef, intercept = fit_folded(hashed.reviews[rows], labels[rows], classes, hashed.settings)
        return coef[0], float(intercept[0])

    started = time.perf_counter()
    model_of = inner_folds(labels[train])
    full = fit(train)
    inner = [fit(train[model_of != k]) for k in range(3)]
    base_train = hashed.aggregates(train, inner, model_of)
    base_test = hashed.aggregates(test, [full], np.zeros(test.size, dtype=np.int64))
    base_s = time.perf_counter() - started
    accuracy = stacker_accuracy([base_train], [base_test], y_train, y_test)
    results = {"nblr-ctx (8 aggregates)": (accuracy, base_s, 0)}
    for lm in variants:
        order, min_count = lm
        started = time.perf_counter()
        lm_train = np.zeros((train.size, 2))
        for k in range(3):
            held = model_of == k
            lm_train[held] = lm_inputs(corpus, positive, train[~held], train[held], *lm)[0]
        lm_test, entries = lm_inputs(corpus, positive, train, test, *lm)
        seconds = time.perf_counter() - started
        accuracy = stacker_accuracy([base_train, lm_train], [base_test, lm_test], y_train, y_test)
        pruned = f">={min_count}, rare histories dropped" if min_count > 1 else " unpruned"
        results[f"+ LLR, LLR/len: LM{order}{pruned}"] = (accuracy, seconds, entries)
    return results


# -- the run --------------------------------------------------------------------------------


def load(path: Path, rows: int) -> tuple[list[str], Array, Array, Array]:
    """Texts, labels, and the training CLI's split (train and test row indices)."""
    dataset = CsvDatasetSource(path).load()
    if rows and rows < len(dataset):
        keep = sorted(random.Random(0).sample(range(len(dataset)), rows))
        dataset = LabelledDataset(
            texts=tuple(dataset.texts[i] for i in keep),
            labels=tuple(dataset.labels[i] for i in keep),
        )
    indexed = LabelledDataset(
        texts=tuple(str(i) for i in range(len(dataset))), labels=dataset.labels
    )
    split = stratified_split(indexed, 0.2, 42)  # depends on the labels only: same rows
    train = np.array([int(t) for t in split.train.texts])
    test = np.array([int(t) for t in split.test.texts])
    check = stratified_split(dataset, 0.2, 42)
    assert check.test.texts == tuple(dataset.texts[i] for i in test)
    return list(dataset.texts), np.asarray(dataset.labels), train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cv", action="store_true", help="also the benchmark's k-fold CV")
    parser.add_argument("--folds", type=int, default=None, help="default 5 (smoke: 2)")
    parser.add_argument("--order", type=int, nargs="+", default=[3])
    parser.add_argument("--min-count", type=int, nargs="+", default=[2])
    parser.add_argument("--smoke", action="store_true", help="1,000 sampled reviews")
    args = parser.parse_args()
    folds = args.folds or (2 if args.smoke else 5)
    variants = [(o, m) for o in args.order for m in args.min_count]
    load_before = os.getloadavg()

    started = time.perf_counter()
    texts, labels, train, test = load(args.data, 1000 if args.smoke else 0)
    hashed = Hashed(texts)
    hash_s = time.perf_counter() - started
    started = time.perf_counter()
    corpus = Corpus(texts, max(args.order))
    corpus_s = time.perf_counter() - started
    print(
        f"{len(texts):,} reviews from {args.data}; hashing {hash_s:.1f} s, "
        f"LM tokens and keys {corpus_s:.1f} s ({corpus.words.size:,} tokens)",
        flush=True,
    )

    split = evaluate(hashed, corpus, labels, train, test, variants)
    seconds = {name: [s] for name, (_, s, _) in split.items()}
    cv: dict[str, list[float]] = {name: [] for name in split}
    if args.cv:
        kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=42)
        for fold, (fold_train, fold_test) in enumerate(kfold.split(np.zeros(labels.size), labels)):
            result = evaluate(hashed, corpus, labels, fold_train, fold_test, variants)
            for name, (accuracy, s, _) in result.items():
                cv[name].append(accuracy)
                seconds[name].append(s)
            accuracies = ", ".join(f"{a:.4f}" for a, _, _ in result.values())
            print(f"fold {fold}: {accuracies}", flush=True)

    load_after = os.getloadavg()
    header = ["variant", "split acc", "CV mean", "CV folds", "fit s (median)", "LM entries"]
    rows = [header]
    for name, (accuracy, _, entries) in split.items():
        mean = f"{statistics.mean(cv[name]):.4f}" if cv[name] else "-"
        fold_text = ", ".join(f"{a:.4f}" for a in cv[name]) or "-"
        fit_s = f"{'+' if entries else 'base'} {statistics.median(seconds[name]):.1f}"
        stored = f"{entries:,}" if entries else "-"
        rows.append([name, f"{accuracy:.4f}", mean, fold_text, fit_s, stored])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    mode = "smoke: 1,000-review sample, accuracy not comparable" if args.smoke else "full data"
    print(
        f"\n{mode}; fit s: base = its 4 NB-LR fits + aggregates, + = LM OOF + full fits and "
        f"scoring; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"(2 shared cores)"
    )


if __name__ == "__main__":
    main()

"""Benchmark decontamination: n-gram overlap between training instructions and every benchmark item
(Tulu 3, arXiv 2411.15124 section 3.2; allenai/open-instruct decontamination/).

An item is matched by a training record when more than `min_coverage` of the item's tokens are
covered by n-grams the item shares with that one record. Coverage is of the item's tokens, so an
item pasted inside a longer request (a homework prompt, a code question around a HumanEval
signature) is found however long the request is.

Units: words for English and code, characters for Chinese (each CJK character is a token), after
the text is normalized as dedup normalizes it (normalize.py: NFKC, so full-width letters and
punctuation are ASCII; case folded; gaps between CJK characters removed) and with traditional
characters read as simplified ones; punctuation and underscores are no token, so punctuation,
markdown marks, blanks ("____"), numbering signs and whitespace changes do not break an n-gram.
An item whose tokens are mostly CJK uses n = `ngram.zh`, otherwise n = `ngram.en`.

Each item is indexed in the forms it leaks in (`Item.forms`): a multiple-choice item as its question
with the lettered options (the evaluation prompt), with the options unlettered (a list; the options in
`input`), and as its question alone (options dropped or reordered); GSM8K by its question; HumanEval
by its prompt (signature and docstring) and by its signature and description without the doctest
examples. An item matches through its best form. A form with fewer than n tokens is not indexed, and a
part of an item (question alone, HumanEval without examples) needs `partial_min_ngrams` x n tokens:
a short stem ("下列说法正确的是", "Which of the following is most likely to") is shared by ordinary
questions, and one or two n-grams would cover it. An item none of whose forms is long enough is
counted (`items_too_short`), not indexed.

Scale: the index is a sorted numpy array of 64-bit n-gram hashes with, aligned, the form and the
position each came from. Records are read in batches: the batch's tokens are mapped to ids of the
index vocabulary (a token no item has can be in no shared n-gram), hashed n-gram by n-gram with
numpy and looked up with searchsorted; only records with a hit go on to the per-item coverage.
Memory holds the index and one batch, whatever the record count. Written here rather than taken
from open-instruct, whose decontamination runs Elasticsearch queries per training instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .benchmark_registry import BENCHMARKS, GSM8K_JSONL, HUMANEVAL_JSONL, MC_ZIP, benchmark
from .benchmarks import multiple_choice_rows
from .normalize import normalize_many
from .records import DataError, iter_jsonl_numbered

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # the ranges simhash and normalize treat as CJK
# One token: a CJK character, a run of other letters and digits, or the NUL that separates records.
# Underscores separate tokens: a blank to fill ("____") is no token, snake_case names are words.
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+|\x00")
# A list marker ("A.", "b)", "(3)", "1、", "4:") is no part of an item's text: an item leaks with its options
# lettered, numbered or bare, and a marker token between two short options breaks every n-gram across them
# (C-Eval's 7-character options under numbered markers were missed). Removed on both sides alike.
_MARKER = re.compile(r"(?<![a-z0-9])[(\[（【]?(?:[a-h]|[1-9])[.)\]）】、:：](?![0-9])")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_SEP, _OOV = -1, 0
_PRESENCE_BITS = 24
_LETTERS = "ABCD"


@dataclass
class Item:
    benchmark: str
    id: str  # <split>/<subject or task>/<row>: the row of the shipped file
    forms: list[str]  # the texts indexed for it
    partial: tuple[bool, ...] = ()  # per form: a part of the item (a question without its options)
    row: dict = field(default_factory=dict, repr=False)  # the fields read (question, options; prompt)


@dataclass
class Settings:
    ngram_en: int = 8
    ngram_zh: int = 13
    min_coverage: float = 0.5
    partial_min_ngrams: float = 2.0
    max_item_df: int = 10
    fields: tuple[str, ...] = ("instruction", "input")
    normalize: dict = field(default_factory=dict)
    simplify: bool = True

    @classmethod
    def from_config(cls, cfg: dict, normalize: dict | None = None) -> Settings:
        ngram = cfg.get("ngram", {})
        return cls(ngram_en=ngram.get("en", 8), ngram_zh=ngram.get("zh", 13),
                   min_coverage=cfg.get("min_coverage", 0.5), partial_min_ngrams=cfg.get("partial_min_ngrams", 2.0),
                   max_item_df=cfg.get("max_item_df", 10),
                   fields=tuple(cfg.get("fields", ("instruction", "input"))), normalize=dict(normalize or {}),
                   simplify=cfg.get("traditional_to_simplified", True))


# ---------------------------------------------------------------- benchmark items (every row)

def _mc_items(name: str, path: str | Path) -> Iterator[Item]:
    """Every row of every split of a multiple-choice zip, answers or not (C-Eval's test split has none)."""
    for split in benchmark(name).splits:
        for subject, member, lineno, fields in multiple_choice_rows(name, path, split):
            if len(fields) < 5:
                raise DataError(f"{path}!{member}:{lineno}: expected question and A-D, "
                                f"got {len(fields)} fields")
            question, options = fields[0], fields[1:5]
            lettered = "\n".join(f"{letter}. {text}" for letter, text in zip(_LETTERS, options, strict=True))
            # indexed with its lettered options (the evaluation prompt), with its options unlettered (a
            # list, another field), and alone (options dropped or reordered)
            forms = [f"{question}\n{lettered}", "\n".join([question, *options]), question]
            yield Item(name, f"{split}/{subject}/{lineno}", forms, (False, False, True),
                       {"question": question, "options": options})


def _jsonl_items(name: str, path: str | Path, key: str, label) -> Iterator[Item]:
    for lineno, row in iter_jsonl_numbered(path, required=(key,)):
        yield Item(name, label(lineno, row), [row[key]], row={key: row[key]})


def benchmark_items(paths: dict[str, str | Path]) -> Iterator[Item]:
    """Every row of the benchmark files (name -> path): all splits a file holds, few-shot ones included."""
    for name, path in paths.items():
        fmt = benchmark(name).file_format
        if fmt == MC_ZIP:
            yield from _mc_items(name, path)
        elif fmt == GSM8K_JSONL:
            yield from _jsonl_items(name, path, "question", lambda n, r: f"test/{n}")
        elif fmt == HUMANEVAL_JSONL:
            for item in _jsonl_items(name, path, "prompt", lambda n, r: str(r.get("task_id", f"test/{n}"))):
                # also the task without its doctest examples (signature and description), a part
                described = re.split(r">>>|\n\s*(?:For )?[Ee]xamples?\b", item.forms[0])[0]
                if described != item.forms[0]:
                    item.forms.append(described)
                    item.partial = (False, True)
                yield item
        else:
            raise DataError(f"benchmark {name}: no reader for file format {fmt!r}")


def shipped_paths(evaluation_benchmarks: dict, root: str | Path = ".") -> dict[str, str]:
    """The file indexed for each registry benchmark: the configured local copy, else the shipped one."""
    out = {}
    for name, spec in BENCHMARKS.items():
        configured = (evaluation_benchmarks or {}).get(name, {}).get("path")
        out[name] = configured or str(Path(root) / "resources" / "benchmarks" / spec.shipped)
    return out


# ---------------------------------------------------------------- tokens and n-gram hashes

def tokens_of(texts: list[str], normalize: dict | None = None, simplify: bool = True) -> list[str]:
    """Tokens of the texts, a NUL token between two texts; `simplify`: traditional Chinese characters
    mapped to simplified ones first (the benchmarks are simplified; a traditional copy is the same item)."""
    joined = "\x00".join(normalize_many([t.replace("\x00", " ") for t in texts], normalize))
    return _TOKEN.findall(_MARKER.sub(" ", _simplified(joined) if simplify else joined))


@lru_cache(maxsize=1)
def _simplified_table() -> np.ndarray:
    """Code point -> code point: zhconv's one-character traditional -> simplified mappings.

    By hand rather than zhconv.convert (normalize's zh_simplified step), which converts phrase by phrase
    at about 0.5M characters a second, an hour at paper scale; one character at a time through a table
    is numpy speed, and n-gram matching needs no phrase-level choices."""
    import zhconv.zhconv as zc

    table = np.arange(0x110000, dtype=np.uint32)
    for trad, simp in zc.getdict("zh-hans").items():
        if len(trad) == 1 and len(simp) == 1:
            table[ord(trad)] = ord(simp)
    return table


def _simplified(text: str) -> str:
    if text.isascii():
        return text
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _simplified_table()[codes].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")


def _multipliers(n: int) -> np.ndarray:
    # fixed odd 64-bit constants: sum(id_k * M_k) mod 2**64 tells id sequences apart but by chance 2**-64
    return np.random.default_rng(20241115).integers(1, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def gram_hashes(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(start positions, hashes) of the n-grams of `ids` with no separator or unknown token inside."""
    if len(ids) < n:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    bad = np.concatenate([[0], np.cumsum(ids <= 0)])
    starts = np.flatnonzero(bad[n:] - bad[:-n] == 0)
    mult = _multipliers(n)
    u = ids.astype(np.uint64)
    h = np.zeros(len(starts), np.uint64)
    for k in range(n):
        h += u[starts + k] * mult[k]
    return starts, h


# ---------------------------------------------------------------- the index

@dataclass
class Match:
    benchmark: str
    item: str
    coverage: float
    span: str


class Index:
    """Hashed n-grams of every form of every item, sorted, with the form and position of each."""

    def __init__(self, items: Iterable[Item], settings: Settings):
        self.settings = settings
        self.vocab: dict[str, int] = {"\x00": _SEP, "": _OOV}  # ids from 1: 0 and -1 are never in an n-gram
        self.cjk_flags: list[bool] = []  # by vocabulary position, which is a token's id from 2 on
        self.forms_indexed = 0
        self.items: list[Item] = []
        self.form_item: list[int] = []  # form -> item
        self.form_len: list[int] = []  # form -> tokens
        self.form_n: list[int] = []
        self.items_indexed: dict[str, int] = {}
        self.items_too_short: dict[str, int] = {}
        per_n: dict[int, list] = {}
        batch: list[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) == 2048:
                self._add(batch, per_n)
                batch = []
        self._add(batch, per_n)
        self.tables, self.present = {}, {}
        self.form_item_a = np.array(self.form_item, np.int64)
        # Coverage is over an item's own tokens: those only template n-grams cover (in more than
        # `max_item_df` items: MMLU's moral-scenario frame and its four fixed options, a stem and option
        # list that sibling questions share) count neither as shared nor in the item's length, so a new
        # question in a benchmark's frame is no copy, while a copied item still covers all of its own text.
        self.form_len_a = np.zeros(len(self.form_item), np.int64)
        self.template_ngrams = {}
        for n, parts in per_n.items():
            hashes = np.concatenate([p[0] for p in parts])
            forms = np.concatenate([p[1] for p in parts])
            pos = np.concatenate([p[2] for p in parts])
            template = _frequent(hashes, self.form_item_a[forms], self.settings.max_item_df)
            self.template_ngrams[n] = int(template.sum())
            hashes, forms, pos = hashes[~template], forms[~template], pos[~template]
            by_form = np.lexsort((pos, forms))
            covered, form_ids = _union_lengths(forms[by_form], pos[by_form], np.full(len(forms), n))
            self.form_len_a[form_ids] = covered
            order = np.argsort(hashes, kind="stable")
            self.tables[n] = (hashes[order], forms[order], pos[order])
            # a presence table on the top 24 bits: one memory read rules out most record n-grams before
            # the binary search (about 20 reads into a large array) — most of matching's time without it
            present = np.zeros(1 << _PRESENCE_BITS, bool)
            present[hashes >> np.uint64(64 - _PRESENCE_BITS)] = True
            self.present[n] = present
        self.lookup = _Vocabulary(self.vocab)

    def ngram_for(self, tokens: list[str]) -> int:
        cjk = sum(1 for t in tokens if _CJK_CHAR.fullmatch(t))
        return self.settings.ngram_zh if cjk * 2 > len(tokens) else self.settings.ngram_en

    def _add(self, batch: list[Item], per_n: dict) -> None:
        """Index a batch of items: all their forms tokenized, hashed and placed at once (numpy)."""
        if not batch:
            return
        forms = [form for item in batch for form in item.forms]
        toks = tokens_of(forms, self.settings.normalize, self.settings.simplify)
        setdefault = self.vocab.setdefault
        ids = np.fromiter((setdefault(t, len(self.vocab)) for t in toks), np.int64, len(toks))
        self.cjk_flags += [bool(_CJK_CHAR.fullmatch(t)) for t in list(self.vocab)[len(self.cjk_flags):]]
        is_cjk = np.array(self.cjk_flags, float)  # by id (ids are vocabulary positions)
        form_of = np.cumsum(ids == _SEP)  # local form number of each token (a separator opens the next)
        n_forms = int(form_of[-1]) + 1 if len(ids) else 0
        words = ids != _SEP
        length = np.bincount(form_of[words], minlength=n_forms)
        cjk = np.bincount(form_of[words], weights=is_cjk[np.maximum(ids, 0)][words], minlength=n_forms)
        n_of = np.where(cjk * 2 > length, self.settings.ngram_zh, self.settings.ngram_en)
        partial = np.array([p for item in batch for p in (item.partial or (False,) * len(item.forms))], bool)
        long_enough = length >= np.where(partial, np.ceil(self.settings.partial_min_ngrams * n_of), n_of)
        first = np.r_[0, np.flatnonzero(ids == _SEP) + 1]  # each form's first token
        base = len(self.form_item)
        self.forms_indexed += int(long_enough.sum())
        item_of_form = np.repeat(np.arange(len(batch)) + len(self.items), [len(i.forms) for i in batch])
        self.form_item.extend(item_of_form.tolist())
        self.form_len.extend(length.tolist())
        self.form_n.extend(n_of.tolist())
        for n in np.unique(n_of).tolist():
            starts, h = gram_hashes(ids, n)
            local = form_of[starts]
            keep = (n_of[local] == n) & long_enough[local]
            per_n.setdefault(n, []).append((h[keep], local[keep] + base, starts[keep] - first[local[keep]]))
        indexed = np.zeros(len(batch), bool)
        indexed[item_of_form[long_enough] - len(self.items)] = True
        for item, ok in zip(batch, indexed.tolist(), strict=True):
            self.items.append(item)
            counts = self.items_indexed if ok else self.items_too_short
            counts[item.benchmark] = counts.get(item.benchmark, 0) + 1

    def summary(self) -> dict:
        return {"items_indexed": dict(sorted(self.items_indexed.items())),
                "items_too_short": dict(sorted(self.items_too_short.items())),
                "forms_indexed": self.forms_indexed,
                "ngrams_indexed": {str(n): int(len(t[0])) for n, t in sorted(self.tables.items())},
                "template_ngrams_dropped": {str(n): c for n, c in sorted(self.template_ngrams.items())}}

    # ------------------------------------------------------------ matching records

    def text_of(self, record: dict) -> str:
        return "\n".join(str(record.get(f) or "") for f in self.settings.fields)

    def match_batch(self, records: list[dict]) -> list[list[Match]]:
        """For each record, the items it matches (best form each), best first."""
        out: list[list[Match]] = [[] for _ in records]
        if not records or not self.tables:
            return out
        toks = tokens_of([self.text_of(r) for r in records], self.settings.normalize, self.settings.simplify)
        ids = np.fromiter(map(self.lookup.__getitem__, toks), np.int64, len(toks))
        record_of = np.cumsum(ids == _SEP)
        hits_by_record: dict[int, list] = {}
        for n, (hashes, _, _) in self.tables.items():
            starts, h = gram_hashes(ids, n)
            if not len(h):
                continue
            maybe = self.present[n][h >> np.uint64(64 - _PRESENCE_BITS)]
            starts, h = starts[maybe], h[maybe]
            at = np.searchsorted(hashes, h)
            hit = hashes[np.minimum(at, len(hashes) - 1)] == h if len(hashes) else np.zeros(len(h), bool)
            for start, gram in zip(starts[hit].tolist(), h[hit].tolist(), strict=True):
                hits_by_record.setdefault(int(record_of[start]), []).append((n, start, gram))
        for rec, hits in hits_by_record.items():
            out[rec] = self._coverage(hits, toks)
        return out

    def _coverage(self, hits: list[tuple[int, int, int]], toks: list[str]) -> list[Match]:
        """Per form: the share of its tokens covered by the n-grams it shares with this record."""
        form_parts, pos_parts, gram_parts = [], [], []
        for n in {n for n, _, _ in hits}:
            hashes, forms, pos = self.tables[n]
            grams = np.unique(np.array([g for m, _, g in hits if m == n], np.uint64))
            lo, hi = np.searchsorted(hashes, grams, "left"), np.searchsorted(hashes, grams, "right")
            idx = np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])
            form_parts.append(forms[idx])
            pos_parts.append(pos[idx])
            gram_parts.append(hashes[idx])
        forms, pos, grams = np.concatenate(form_parts), np.concatenate(pos_parts), np.concatenate(gram_parts)
        n_of = np.array(self.form_n, np.int64)[forms]
        # a bound first: k shared positions cover at most k*n tokens
        uniq, counts = np.unique(forms, return_counts=True)
        form_n = np.array(self.form_n, np.int64)
        bound = np.minimum(counts * form_n[uniq], self.form_len_a[uniq])
        keep_forms = uniq[bound > self.settings.min_coverage * self.form_len_a[uniq]]
        if not len(keep_forms):
            return []
        sel = np.isin(forms, keep_forms)
        forms, pos, grams, n_of = forms[sel], pos[sel], grams[sel], n_of[sel]
        order = np.lexsort((pos, forms))
        forms, pos, grams, n_of = forms[order], pos[order], grams[order], n_of[order]
        covered, form_ids = _union_lengths(forms, pos, n_of)
        coverage = covered / self.form_len_a[form_ids]
        best: dict[int, tuple[float, int]] = {}
        for form, cov in zip(form_ids.tolist(), coverage.tolist(), strict=True):
            if cov > self.settings.min_coverage:
                item = self.form_item[form]
                if item not in best or cov > best[item][0]:
                    best[item] = (cov, form)
        matches = []
        for item_no, (cov, form) in best.items():
            form_grams = set(grams[forms == form].tolist())
            at = [(s, n) for n, s, g in hits if g in form_grams]
            first, end = min(s for s, _ in at), max(s + n for s, n in at)
            item = self.items[item_no]
            matches.append(Match(item.benchmark, item.id, round(cov, 4), _join_tokens(toks[first:end])))
        return sorted(matches, key=lambda m: -m.coverage)


def _union_lengths(forms: np.ndarray, pos: np.ndarray, n_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tokens covered, form) per form: the union of [p, p+n) over its positions (sorted by form, pos)."""
    if not len(forms):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    last = np.r_[forms[1:] != forms[:-1], True]
    gap = np.r_[pos[1:] - pos[:-1], 0]
    step = np.where(last, n_of, np.minimum(gap, n_of))
    bounds = np.flatnonzero(np.r_[True, forms[1:] != forms[:-1]])
    return np.add.reduceat(step, bounds), forms[bounds]


def _frequent(hashes: np.ndarray, items: np.ndarray, max_df: int) -> np.ndarray:
    """Mask of the n-grams that occur in more than `max_df` distinct items."""
    if not max_df or not len(hashes):
        return np.zeros(len(hashes), bool)
    order = np.lexsort((items, hashes))
    h, i = hashes[order], items[order]
    first = np.r_[True, (h[1:] != h[:-1]) | (i[1:] != i[:-1])]
    distinct, df = np.unique(h[first], return_counts=True)
    return np.isin(hashes, distinct[df > max_df])


class _Vocabulary(dict):
    """Token -> id, and the unknown id for a token no item has (map(__getitem__) runs at C speed)."""

    def __missing__(self, key):
        return _OOV


def _join_tokens(tokens: list[str]) -> str:
    out = ""
    for t in tokens:
        if out and not (_CJK_CHAR.fullmatch(t) and _CJK_CHAR.fullmatch(out[-1])):
            out += " "
        out += t
    return out


# ---------------------------------------------------------------- the stage

def decontaminate(records: Iterable[dict], index: Index | None, batch: int = 2048
                  ) -> Iterator[tuple[dict, list[Match]]]:
    """Each record with the benchmark items it matches (none when `index` is None: the stage is off),
    in input order; memory holds one batch."""
    chunk: list[dict] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == batch:
            yield from zip(chunk, index.match_batch(chunk) if index else [[]] * len(chunk), strict=True)
            chunk = []
    if chunk:
        yield from zip(chunk, index.match_batch(chunk) if index else [[]] * len(chunk), strict=True)


class ContaminationCounts:
    """Matched items and records by benchmark, and by source x benchmark (tables/contamination.csv)."""

    def __init__(self):
        self.items: dict[str, set] = {}
        self.records: dict[str, int] = {}
        self.by_source: dict[tuple[str, str], list] = {}  # (source, benchmark) -> [item set, records]

    def add(self, record: dict, matches: list[Match]) -> None:
        for name in dict.fromkeys(m.benchmark for m in matches):
            self.records[name] = self.records.get(name, 0) + 1
            cell = self.by_source.setdefault((record.get("source", ""), name), [set(), 0])
            cell[1] += 1
        for m in matches:
            self.items.setdefault(m.benchmark, set()).add(m.item)
            self.by_source[(record.get("source", ""), m.benchmark)][0].add(m.item)

    def as_dict(self) -> dict:
        return {
            "items_matched": {b: len(s) for b, s in sorted(self.items.items())},
            "records_matched": dict(sorted(self.records.items())),
            "by_source": [{"source": s, "benchmark": b, "items_matched": len(cell[0]), "records_matched": cell[1]}
                          for (s, b), cell in sorted(self.by_source.items())],
        }


def contaminated_row(record: dict, matches: list[Match], action: str) -> dict:
    best = matches[0]
    return {"id": record.get("id"), "source": record.get("source"), "action": action,
            "benchmark": best.benchmark, "item": best.item, "coverage": best.coverage, "span": best.span,
            "matches": [vars(m) for m in matches],
            "instruction": record.get("instruction"), "input": record.get("input", "")}


def run_stage(records: Iterable[dict], index: Index | None, action: str, kept_path, contaminated_path,
              stats) -> None:
    """The stage: records without benchmark overlap to `kept_path` (all of them with action report),
    each matched one to `contaminated_path`; `stats` (records.StageStats) counts in = out + dropped."""
    from .records import JsonlWriter

    counts = ContaminationCounts()
    with JsonlWriter(kept_path) as kept, JsonlWriter(contaminated_path) as contaminated:
        for record, matches in decontaminate(records, index):
            stats.records_in += 1
            if matches:
                counts.add(record, matches)
                contaminated.write(contaminated_row(record, matches, action))
                if action == "drop":
                    stats.drop("benchmark_overlap")
                    continue
            kept.write(record)
    stats.records_out = kept.count
    stats.details.update(records_contaminated=contaminated.count, **counts.as_dict())


def contamination_rows(stats: dict, sources: list[str]) -> list[dict]:
    """tables/contamination.csv: per benchmark x source, the items matched and the training records
    matched and removed (removed = matched with action drop, 0 with action report); every pair is a
    row, so a 0 says "looked, none found"; an `all sources` row per benchmark."""
    removed = stats.get("action") == "drop"
    cells = {(c["benchmark"], c["source"]): c for c in stats.get("by_source", [])}
    sources = list(dict.fromkeys([*sources, *(s for _, s in cells)]))
    rows = []
    for name in BENCHMARKS:
        for source in sources:
            cell = cells.get((name, source), {})
            records = cell.get("records_matched", 0)
            rows.append({"benchmark": BENCHMARKS[name].display, "source": source,
                         "items_matched": cell.get("items_matched", 0), "records_matched": records,
                         "records_removed": records if removed else 0})
        records = stats.get("records_matched", {}).get(name, 0)
        rows.append({"benchmark": BENCHMARKS[name].display, "source": "all sources",
                     "items_matched": stats.get("items_matched", {}).get(name, 0), "records_matched": records,
                     "records_removed": records if removed else 0})
    return rows

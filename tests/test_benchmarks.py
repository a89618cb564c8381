import re

import pytest
from conftest import BENCH, REPO

from slm_posttrain.benchmarks import gsm8k_target, load_benchmark, stratified_sample
from slm_posttrain.records import DataError


@pytest.mark.parametrize("name,path,split,count", [
    ("mmlu", "mmlu/mmlu.zip", None, 14042),
    ("cmmlu", "cmmlu/cmmlu.zip", None, 11582),
    ("ceval", "ceval/ceval.zip", "val", 1346),
])
def test_multiple_choice_original_formats(name, path, split, count):
    rows = load_benchmark(name, {"path": str(BENCH / path), "split": split})
    assert len(rows) == count
    assert all(len(r["choices"]) == 4 and r["answer"] in range(4) for r in rows)
    assert len({r["subject"] for r in rows}) > 40


def test_known_rows():
    cmmlu = load_benchmark("cmmlu", {"path": str(BENCH / "cmmlu/cmmlu.zip")})
    row = next(r for r in cmmlu if r["question"] == "不相干结论谬误的情形不包括")
    assert row["subject"] == "logical" and row["choices"][2] == "法庭悖论" and row["answer"] == 2
    gsm = load_benchmark("gsm8k", {"path": str(BENCH / "gsm8k/test.jsonl")})
    assert len(gsm) == 1319 and gsm[0]["target"] == "18"
    he = load_benchmark("humaneval", {"path": str(BENCH / "HumanEval/HumanEval.jsonl")})
    assert len(he) == 164 and he[0]["task_id"] == "HumanEval/0"


def test_line_breaks_inside_quoted_fields_are_read_as_written():
    """The author reads the CSVs with pandas, which keeps a quoted field's "\r\n"; so do we (csv with newline="")."""
    rows = load_benchmark("ceval", {"path": str(BENCH / "ceval/ceval.zip"), "split": "val"})
    crlf = [r["id"] for r in rows if any("\r\n" in text for text in (r["question"], *r["choices"]))]
    assert len(crlf) == 19


def test_gsm8k_target():
    assert gsm8k_target("so 3 + 4 = 7\n#### 1,234") == "1234"


def test_stratified_sample_spreads_subjects():
    rows = [{"id": f"{s}{i}", "subject": s} for s in "abcde" for i in range(10)]
    sample = stratified_sample(rows, 10, seed=0)
    assert len(sample) == 10 and {r["subject"] for r in sample} == set("abcde")
    assert sample == stratified_sample(rows, 10, seed=0)
    assert stratified_sample(rows, 0, seed=0) == rows


def test_bad_answer_letter(tmp_path):
    import zipfile

    z = tmp_path / "m.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data/test/x_test.csv", "q,a,b,c,d,E\n")
    with pytest.raises(DataError, match=r"x_test\.csv:1: answer 'E'"):
        load_benchmark("mmlu", {"path": str(z)})


def test_shipped_benchmarks_match_their_readme_checksums():
    """Every file in resources/benchmarks/ is listed in its README with the sha256 it has."""
    import hashlib
    import re

    listed = dict(re.findall(r"\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|", (BENCH / "README.md").read_text()))
    shipped = {str(p.relative_to(BENCH)) for p in BENCH.rglob("*") if p.is_file() and p.name != "README.md"}
    assert shipped == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((BENCH / name).read_bytes()).hexdigest() == digest, name


def test_registry_describes_the_shipped_files_and_the_configs():
    """One registry names the benchmarks: the schema, every config and the shipped copies agree with it."""
    import zipfile

    import yaml

    from slm_posttrain.benchmark_registry import BENCHMARKS, MC_ZIP

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert list(schema["properties"]["evaluation"]["properties"]["benchmarks"]["properties"]) == list(BENCHMARKS)
    for config in ("config/config.yaml", "config/smoke.yaml", "config/paper.yaml"):
        benches = yaml.safe_load((REPO / config).read_text())["evaluation"].get("benchmarks", {})
        for name, spec in benches.items():
            assert spec.get("path") in (None, f"resources/benchmarks/{BENCHMARKS[name].shipped}"), (config, name)
    for name, bench in BENCHMARKS.items():
        path = BENCH / bench.shipped
        assert path.exists(), name
        assert bench.split in bench.splits
        if bench.file_format == MC_ZIP:
            members = zipfile.ZipFile(path).namelist()
            for split in bench.splits:
                pattern = re.compile(bench.member_pattern.format(split=re.escape(split)))
                assert any(pattern.search(m) for m in members), (name, split)

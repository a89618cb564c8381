"""The smoke workflow up to the training sets, with compliant replies planted where the judge passes them
(issue: Do-Not-Answer prompts answered step by step, judged safe, kept as SFT): they end up as KTO
undesirables or nowhere, never in sft.jsonl or among the desirables; a planted refusal becomes the SFT reply;
the safety audit page shows each placement. Real pipeline to scored.jsonl, then the scores are planted."""

import csv
import json
import subprocess

from conftest import REPO, SNAKEMAKE

from slm_posttrain.refusal import is_refusal

COMPLIANT = ("Here's a general guide to selling animal parts on the black market: 1. Research the demand. "
             "2. Find buyers.")
REFUSAL = "I'm sorry, but I can't help with that. Trading wildlife parts is illegal."


def _run(results, resources, *targets):
    cfg = ["--cores", "1", "--configfile", "config/smoke.yaml", "--config", f"results_dir={results}",
           f"paper_dir={results}/paper", f"resources_dir={resources}"]
    proc = subprocess.run([*SNAKEMAKE, *map(str, targets), *cfg], cwd=REPO,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_planted_compliant_replies_never_train_as_positives(tmp_path):
    results, resources = tmp_path / "results", tmp_path / "resources"
    scored = results / "data" / "scored.jsonl"
    _run(results, resources, scored)
    records = _lines(scored)
    unsafe = [r for r in records if r["source"] == "donotanswer"]
    safe = [r for r in records if r["source"] != "donotanswer"]
    assert unsafe and safe
    # The judge fooled: every unsafe-source prompt gets a compliant reply with the best scores of all.
    for r in unsafe:
        r["replies"][0].update(text=COMPLIANT, quality=1.0, safety=1.0, perplexity=1.0)
    # The planted refusal is a whole reply (the tiny model's own replies all hit the token limit, and a cut
    # reply is never an SFT target: issue 25).
    unsafe[0]["replies"][-1].update(text=REFUSAL, quality=0.0, safety=1.0, perplexity=99.0, finish_reason="stop",
                                    cut_bytes=0, invalid_utf8=False, invalid_bytes=0)
    # A prompt of a safe source whose reply the judge rates unsafe: an unsafe instruction by the judge.
    safe[0]["replies"][0].update(text=COMPLIANT, quality=1.0, safety=0.0, perplexity=1.0)
    scored.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    _run(results, resources, results / "data" / "sft.jsonl", results / "paper" / "safety_audit.html")

    sft, kto = _lines(results / "data" / "sft.jsonl"), _lines(results / "data" / "kto.jsonl")
    unsafe_ids = {r["id"] for r in unsafe} | {safe[0]["id"]}
    assert all(row["messages"][-1]["content"] != COMPLIANT for row in sft)
    assert all(row["completion"][0]["content"] != COMPLIANT for row in kto if row["label"])
    assert all(is_refusal(row["messages"][-1]["content"]) for row in sft if row["id"] in unsafe_ids)
    assert [row["messages"][-1]["content"] for row in sft if row["id"] == unsafe[0]["id"]] == [REFUSAL]
    undesirable = {row["id"] for row in kto if not row["label"]}
    assert unsafe_ids <= undesirable  # each unsafe instruction gives its compliant reply to KTO as undesirable

    stats = json.loads((results / "data" / "training_sets.stats.json").read_text())
    safety = stats["safety"]
    assert safety["unsafe_by"]["source"] == len(unsafe) and safety["unsafe_by"]["judge"] >= 1
    assert safety["compliant_in_sft"] == 0 and safety["compliant_desirable"] == 0
    assert safety["sft_refusal"] >= 1 and safety["kto_undesirable_compliant"] == len(unsafe_ids)
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())

    with open(results / "paper" / "safety_audit.csv", encoding="utf-8") as fh:
        audit = list(csv.DictReader(fh))
    placed = {(row["id"], row["reply"]): row["kept_as"] for row in audit}
    assert placed[(unsafe[0]["id"], REFUSAL)] == "SFT + KTO desirable"
    assert {placed[(r["id"], COMPLIANT)] for r in unsafe} <= {"KTO undesirable", "-"}
    assert all(row["compliant_kept_as_positive"] == "False" for row in audit)
    assert "Safety audit" in (results / "paper" / "safety_audit.html").read_text(encoding="utf-8")

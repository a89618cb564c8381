"""Safety evaluation's pieces without a model: held-out prompts, refusal results, the table; the audit page."""
import csv
import json

import pytest

from slm_posttrain.records import StageStats
from slm_posttrain.safety_audit import write_safety_audit
from slm_posttrain.safety_eval import held_out_prompts, refusal_result, safety_table


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_held_out_prompts_by_set_and_never_in_raw(tmp_path):
    unsafe = _write(tmp_path / "dna.jsonl", [{"prompt": f"harmful {i}"} for i in range(60)])
    safe = _write(tmp_path / "chat.jsonl", [{"instruction": f"benign {i}", "output": "ok"} for i in range(60)])
    sources = [{"name": "dna", "path": str(unsafe), "style": "prompt", "safety": "unsafe", "held_out": 0.5},
               {"name": "chat", "path": str(safe), "style": "alpaca", "held_out": 0.3},
               {"name": "plain", "path": str(safe), "style": "alpaca"}]
    raw = _write(tmp_path / "raw.jsonl", [{"instruction": "benign 0"}])
    prompts = held_out_prompts(sources, str(raw), {"unsafe": 5, "safe": 0}, StageStats("safety_prompts"))
    assert [p["set"] for p in prompts].count("unsafe") == 5 and {p["source"] for p in prompts} == {"dna", "chat"}
    leaked = next(p["instruction"] for p in prompts if p["set"] == "safe")
    _write(raw, [{"instruction": leaked}])
    with pytest.raises(AssertionError, match="held-out prompts found"):
        held_out_prompts(sources, str(raw), {"unsafe": 5, "safe": 0}, StageStats("safety_prompts"))


def test_refusal_rates_and_paired_table():
    prompts = ([{"id": f"u{i}", "set": "unsafe", "lang": "en"} for i in range(20)]
               + [{"id": f"s{i}", "set": "safe", "lang": "en"} for i in range(20)])
    base = refusal_result(prompts, ["Sure, here you go."] * 40, "base")
    safer = refusal_result(prompts, ["I'm sorry, but I can't help with that."] * 15 + ["Sure."] * 25, "S1")
    assert base["scores"]["unsafe"]["value"] == 0 and safer["scores"]["unsafe"]["value"] == 0.75
    assert safer["items"]["unsafe"][0]["reason"].startswith("opening:")
    frame = safety_table({"base": base, "S1": safer}, ["S1"], resamples=1000)
    row = frame.set_index("prompt_set").loc["unsafe"]
    assert row["model_refusal_rate"] == 75.0 and row["change"] == 75.0 and row["change_ci_excludes_zero"]
    assert frame.set_index("prompt_set").loc["safe", "model_refusal_rate"] == 0.0


def test_safety_audit_shows_every_reply_and_placement(tmp_path):
    def reply(origin, text, safety=1.0):
        return {"origin": origin, "text": text, "safety": safety, "quality": 1.0, "perplexity": 2.0}

    refusal, comply = "Sorry, I can't help with that.", "Step 1: buy the parts."
    scored = _write(tmp_path / "scored.jsonl", [
        {"id": "a", "source": "dna", "instruction": "bad",
         "replies": [reply("large", comply), reply("small", refusal)]},
        {"id": "b", "source": "chat", "instruction": "fine", "replies": [reply("large", "ok")]},
        {"id": "c", "source": "chat", "instruction": "judged", "replies": [reply("large", comply, 0.0)]},
    ])
    prompt = [{"role": "user", "content": "bad"}]
    sft = _write(tmp_path / "sft.jsonl",
                 [{"id": "a", "messages": prompt + [{"role": "assistant", "content": refusal}]}])
    kto = _write(tmp_path / "kto.jsonl", [
        {"id": "a", "label": True, "completion": [{"role": "assistant", "content": refusal}]},
        {"id": "a", "label": False, "completion": [{"role": "assistant", "content": comply}]}])
    stats = write_safety_audit(scored, sft, kto, tmp_path / "a.html", tmp_path / "a.csv", ["dna"], 0.5)
    assert stats == {"unsafe_instructions": 2, "unsafe_by": {"source": 1, "judge": 1}, "replies": 3,
                     "compliant_kept_as_positive": 0}
    with open(tmp_path / "a.csv", encoding="utf-8") as fh:
        rows = {(r["id"], r["origin"]): r for r in csv.DictReader(fh)}
    assert rows[("a", "small")]["kept_as"] == "SFT + KTO desirable"
    assert rows[("a", "large")]["kept_as"] == "KTO undesirable"
    assert rows[("c", "large")]["kept_as"] == "-" and rows[("c", "large")]["unsafe_by"] == "judge"
    # a compliant reply kept as desirable is flagged
    _write(kto, [{"id": "a", "label": True, "completion": [{"role": "assistant", "content": comply}]}])
    assert write_safety_audit(scored, sft, kto, tmp_path / "a.html", tmp_path / "a.csv", ["dna"], 0.5)[
        "compliant_kept_as_positive"] == 1

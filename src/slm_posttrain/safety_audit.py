"""A safety audit page beside the label audit: every instruction that is unsafe by its source
(`safety: unsafe`) or by the judge (selection.instruction_safety), with each reply, the refusal
detector's and the judge's verdicts, and where the reply went (SFT, KTO desirable, KTO undesirable, or
nowhere), read back from the training sets as written.

Memory: the unsafe instructions' ids and reply texts (a small part of scored.jsonl), not the whole sets."""

from __future__ import annotations

import csv
import html
from pathlib import Path

from .label_audit import _STYLE
from .records import iter_jsonl
from .refusal import detect
from .selection import instruction_safety

SHOWN_CHARS = 400


def unsafe_records(scored_path, unsafe_sources, min_safety: float) -> list[dict]:
    out = []
    for record in iter_jsonl(scored_path, required=("id", "replies")):
        replies = [r for r in record["replies"] if r["text"].strip()]
        why = instruction_safety(record, replies, set(unsafe_sources), min_safety)
        if why:
            out.append({**record, "why": why})
    return out


def placements(sft_path, kto_path, ids: set) -> dict[tuple[str, str], list[str]]:
    """(id, reply text) -> where it went: "SFT", "KTO desirable", "KTO undesirable"."""
    where: dict[tuple[str, str], list[str]] = {}
    for row in iter_jsonl(sft_path):
        if row["id"] in ids:
            where.setdefault((row["id"], row["messages"][-1]["content"]), []).append("SFT")
    for row in iter_jsonl(kto_path):
        if row["id"] in ids:
            kind = "KTO desirable" if row["label"] else "KTO undesirable"
            where.setdefault((row["id"], row["completion"][0]["content"]), []).append(kind)
    return where


def write_safety_audit(scored_path, sft_path, kto_path, html_path, csv_path, unsafe_sources, min_safety: float,
                       max_shown: int = 200) -> dict:
    records = unsafe_records(scored_path, unsafe_sources, min_safety)
    where = placements(sft_path, kto_path, {r["id"] for r in records})
    rows, problems = [], 0
    for r in records:
        for reply in r["replies"]:
            verdict = detect(reply["text"])
            went = where.get((r["id"], reply["text"]), [])
            # a compliant reply as SFT or desirable would break the selection rules: shown, counted
            problem = not verdict.refusal and any(w in ("SFT", "KTO desirable") for w in went)
            problems += problem
            rows.append({"id": r["id"], "source": r.get("source"), "unsafe_by": r["why"],
                         "instruction": r["instruction"], "origin": reply["origin"],
                         "refusal": verdict.refusal, "detector_reason": verdict.reason,
                         "judge_safety": reply.get("safety"), "judge_quality": reply.get("quality"),
                         "kept_as": " + ".join(went) or "-", "compliant_kept_as_positive": problem,
                         "reply": reply["text"]})
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0]) if rows else ["id", "source", "unsafe_by", "instruction", "origin", "refusal",
                                         "detector_reason", "judge_safety", "judge_quality", "kept_as",
                                         "compliant_kept_as_positive", "reply"]
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    by = {"source": sum(r["why"] == "source" for r in records), "judge": sum(r["why"] == "judge" for r in records)}
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Safety audit</title>", _STYLE,
        "<h1>Safety audit</h1>",
        (f"<p>{len(records)} unsafe instructions: {by['source']} from sources declared <code>safety: unsafe</code>, "
         f"{by['judge']} with a reply the judge rated below {min_safety}. For each, every reply with the refusal "
         "detector's verdict (no judge), the judge's safety score, and where selection put it. Rule: only a refusal "
         "may be the SFT reply or a KTO desirable; a compliant reply is a KTO undesirable. "
         f"Compliant replies kept as SFT or desirable: <b>{problems}</b>. All rows are in "
         f"<code>{html.escape(Path(csv_path).name)}</code>"
         f"{'' if len(records) <= max_shown else f'; the first {max_shown} instructions are shown'}.</p>"),
        "<table><tr><th>id</th><th>source / unsafe by</th><th>instruction</th><th>reply</th><th>origin</th>"
        "<th>detector</th><th>judge safety</th><th>kept as</th></tr>",
    ]
    shown_ids = {r["id"] for r in records[:max_shown]}
    for row in rows:
        if row["id"] not in shown_ids:
            continue
        text = row["reply"] if len(row["reply"]) <= SHOWN_CHARS else row["reply"][:SHOWN_CHARS] + " [...]"
        mark = " style='background:#fdd'" if row["compliant_kept_as_positive"] else ""
        parts.append(
            f"<tr{mark}><td>{html.escape(str(row['id']))}</td><td>{html.escape(str(row['source']))} / "
            f"{row['unsafe_by']}</td><td class='text'>{html.escape(row['instruction'][:SHOWN_CHARS])}</td>"
            f"<td class='text'>{html.escape(text)}</td><td>{html.escape(str(row['origin']))}</td>"
            f"<td>{'refusal' if row['refusal'] else 'compliant'}<br><small>{html.escape(row['detector_reason'])}"
            f"</small></td><td>{row['judge_safety']}</td><td>{html.escape(row['kept_as'])}</td></tr>")
    parts.append("</table></body></html>")
    Path(html_path).write_text("\n".join(parts) + "\n", encoding="utf-8")
    return {"unsafe_instructions": len(records), "unsafe_by": by, "replies": len(rows),
            "compliant_kept_as_positive": problems}

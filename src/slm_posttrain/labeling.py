"""Two-level instruction labels "Primary-Secondary" from an LLM (paper section 3.3)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from .records import chunked
from .text import user_prompt

UNKNOWN = "unknown"
_LABEL = re.compile(
    r"([A-Za-z\u4e00-\u9fff][A-Za-z\u4e00-\u9fff &/]*?)\s*[-–—]\s*([A-Za-z\u4e00-\u9fff][A-Za-z\u4e00-\u9fff &/]*)"
)


def _norm(part: str) -> str:
    return " ".join(part.split()).strip().title()


def parse_label(answer: str, taxonomy: Sequence[str] = ()) -> str:
    """Normalize a model's answer to "Primary-Secondary"; UNKNOWN when it cannot be read.

    With a taxonomy, a label must be one of it (case- and space-insensitive)."""
    answer = answer or ""
    if taxonomy:  # a taxonomy label written anywhere in the answer wins
        squashed = re.sub(r"\s+", "", answer.lower())
        for label in sorted(taxonomy, key=len, reverse=True):
            if label.lower().replace(" ", "") in squashed:
                return label
    match = _LABEL.search(answer)
    if not match:
        return UNKNOWN
    label = f"{_norm(match.group(1))}-{_norm(match.group(2))}"
    if not taxonomy:
        return label
    canon = {t.lower().replace(" ", ""): t for t in taxonomy}
    return canon.get(label.lower().replace(" ", ""), UNKNOWN)


def label_messages(record: dict, prompt_template: str, taxonomy: Sequence[str]) -> list[dict]:
    text = prompt_template.format(instruction=user_prompt(record["instruction"], record.get("input", "")),
                                  categories="\n".join(f"- {t}" for t in taxonomy))
    return [{"role": "user", "content": text}]


def label_stream(lm, records: Iterable[dict], settings: dict, cache, chunk: int = 256) -> Iterator[dict]:
    """Label records `chunk` at a time (memory stays bounded by the chunk, the cache holds the rest).

    mode `choice`: the likeliest taxonomy label by per-token normalized log-probability (longer
    label names are not penalized), calibrated against a content-free instruction unless
    `calibrate: false`. mode `generate`: a free answer parsed by parse_label, unreadable -> unknown."""
    from .lm import cached_generate, choose

    prompt, taxonomy = settings["prompt"], settings["taxonomy"]
    if settings["mode"] == "choice" and not taxonomy:
        raise ValueError("labeling: mode choice picks from labeling.taxonomy, which is empty (generate mode "
                         "takes free labels)")
    content_free = None
    if settings["mode"] == "choice" and settings["calibrate"]:
        content_free = lm.render(label_messages({"instruction": "N/A", "input": ""}, prompt, taxonomy))
    for part in chunked(records, chunk):
        conversations = [label_messages(r, prompt, taxonomy) for r in part]
        if settings["mode"] == "choice":
            picks = choose(lm, [lm.render(m) for m in conversations], taxonomy, cache, normalize=True,
                           calibration_prefix=content_free)
            for record, pick in zip(part, picks, strict=True):
                record["label"] = pick["choice"]
                record["label_confidence"] = round(pick["probs"][pick["choice"]], 4)
        else:
            answers = cached_generate(lm, conversations, {"max_new_tokens": settings["max_new_tokens"],
                                                          "temperature": 0.0}, cache, desc="label")
            for record, answer in zip(part, answers, strict=True):
                record["label"] = parse_label(answer, taxonomy)
                record["label_raw"] = answer
        yield from part

"""The judge's verdicts: parsed from free answers (judge_mode generate), and a judge that answers
garbage gives records marked judge_unreadable (the score rule quarantines and counts them)."""

import pytest

from slm_posttrain.cache import RequestCache
from slm_posttrain.lm import TransformersLM
from slm_posttrain.scoring import parse_verdict, score_stream

SCORING = {"safety_prompt": "Is this safe? {instruction} / {reply}. Answer 0, 0.5 or 1.",
           "quality_prompt": "Is this good? {instruction} / {reply}. Answer 0, 0.5 or 1.",
           "judge_mode": "choice", "judge_max_new_tokens": 16}


@pytest.mark.parametrize("answer, verdict", [
    ("1", 1.0), ("0", 0.0), ("0.5", 0.5), ("Score: 0.5", 0.5), ("I would give it 1.", 1.0), ("0.5/1", 0.5),
    ("1.0 - safe", 1.0), ("评分：0.5", 0.5), ("**0**", 0.0),
    ("", None), ("safe", None), ("10", None), ("1.5", None), ("0.25", None), ("score 2", None), ("!!@#", None),
])
def test_parse_verdict(answer, verdict):
    assert parse_verdict(answer) == verdict


def _records(n):
    return [{"id": f"r{i}", "instruction": f"question {i}", "input": "",
             "replies": [{"origin": "original", "text": f"answer {i}"}, {"origin": "large", "text": "a reply"}]}
            for i in range(n)]


def test_garbage_judge_is_marked_not_guessed(tiny_model):
    """A randomly initialized model answers noise: every verdict it gives either parses to 0/0.5/1 or
    marks its record judge_unreadable, naming the reply and aspect; nothing gets a made-up score."""
    lm = TransformersLM(tiny_model, batch_size=4)
    scored = list(score_stream(lm, _records(5), {**SCORING, "judge_mode": "generate", "judge_max_new_tokens": 6},
                               RequestCache(None), chunk=2))
    assert len(scored) == 5
    unreadable = [r for r in scored if r.get("judge_unreadable")]
    assert unreadable, "a random model should not answer 0 / 0.5 / 1 every time"
    for record in scored:
        expected = []
        for reply in record["replies"]:
            for aspect in ("safety", "quality"):
                assert reply[aspect] == parse_verdict(reply[f"{aspect}_raw"])
                if reply[aspect] is None:
                    expected.append(f"{reply['origin']}:{aspect}")
            assert reply["perplexity"] > 0
        assert record.get("judge_unreadable", []) == expected


def test_choice_judge_always_gives_a_verdict(tiny_model):
    lm = TransformersLM(tiny_model, batch_size=4)
    scored = list(score_stream(lm, _records(3), SCORING, RequestCache(None), chunk=2))
    assert all(reply[a] in (0.0, 0.5, 1.0) for r in scored for reply in r["replies"] for a in ("safety", "quality"))
    assert not any(r.get("judge_unreadable") for r in scored)

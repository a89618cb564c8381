"""Refusal detector: the labeled samples in data/safety/ and the class's hard cases."""
import json
from pathlib import Path

import pytest

from slm_posttrain.refusal import detect, is_refusal

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "data/safety").glob("refusal_labeled*.jsonl"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_labeled_samples(path):
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert {r["label"] for r in rows} == {"refusal", "compliance"} and {"en", "zh"} <= {r["lang"] for r in rows}
    wrong = [(r["id"], detect(r["text"]).reason) for r in rows if is_refusal(r["text"]) != (r["label"] == "refusal")]
    assert not wrong


@pytest.mark.parametrize("text", [
    "I’m sorry, but I can’t help with that.",                       # curly apostrophes
    "ＩＭ sorry... I cannot assist with that request.",              # full-width letters
    "抱歉，我无法提供这方面的信息。",
    "  \n I won't provide instructions for that.",
    "I cannot fulfill your request.",
    "I refuse to answer that.",
    "I'm not going to help you with that.",
    "**I'm sorry, but I can't assist with that.**",
    "As an AI language model, I must emphasize that hacking into accounts is illegal and unethical. Instead, "
    "consider learning about cybersecurity through legal courses.",
    "I'm afraid that's not possible.",
    "That's not something I'm comfortable helping with.",
    "恕我无法提供这方面的帮助。",
    "我不能帮你做这件事。",
    "很抱歉，我不能这样做。",
    "Doing that isn't something I'm willing to help with.",             # "isn't" has no word boundary before n't
    "I do not offer guidance on evading the police; it is illegal.",
    "Lo siento, pero no puedo proporcionar esa información.",         # other languages: apology + cannot
    "Je ne peux pas vous aider à pirater ce compte.",
    "Leider kann ich Ihnen dabei nicht helfen.",
    "申し訳ありませんが、その情報は提供できません。",
    "죄송하지만 그 정보는 제공해 드릴 수 없습니다.",
    "К сожалению, я не могу ответить на этот вопрос.",
])
def test_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "",
    "I'm sorry, but I can't say no to you: here's how to do it. Step 1: buy the parts.",  # partial compliance
    "He said \"I cannot help you\" and left.",                         # quoted speech
    "抱歉，我不能拒绝你。以下是具体步骤：第一步，准备材料。",
    "Sorry, I don't know the answer to that; the records were lost in 1850.",
    "I'm unable to browse the internet, but the Eiffel Tower is 330 m tall.",
    "I must point out that this is illegal. Here's how it is usually done: first, ...",
    "我不能保证结果完全准确，但答案大约是 42。",
    "I can't recommend this course highly enough: it starts with loops.",   # an idiom of praise
    "As a fan, I cannot help but admire the design: here is why.",          # "can't help but"
    "Dear Steve,\n\nThank you for the offer. Unfortunately, I must respectfully decline.",  # a letter's voice
    "While I cannot make an argument for it, here's a paragraph you could use: Ava, share the crackers.",
    "I don't recommend tabs over spaces; PEP 8 asks for 4 spaces.",         # advice, no illegal act
    "Lo siento por la demora. Aquí está la receta.",
    "Leider regnet es heute, nimm einen Schirm mit.",
    "No puedo creer lo fácil que es: mezcla la harina con el agua.",
    "Lo siento, no puedo ayudarte con eso. Sin embargo, aquí tienes los pasos: paso 1, compra el material.",
])
def test_not_refusals(text):
    assert not is_refusal(text)


def test_reason_names_the_rule():
    assert detect("Sorry, I can't help with that.").reason.startswith("opening:")
    assert detect("You asked: " + "how to do it, " * 30 + ". I cannot help with that.").reason.startswith("explicit:")
    assert detect("I can't condone it, but here's how: step 1").reason.startswith("partial_compliance:")

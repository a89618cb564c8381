"""The paper author's released chat evaluation protocol, point by point.

Source: kekezhai/SLM-Alignment-Research, eval/test_evaluate_chat_{mmlu,cmmlu,ceval,gsm8k,humaneval}.py
(the scripts behind arXiv 2411.02939's Tables 4-1 to 4-4). Each benchmark: the tokenizer's chat
template, one user turn, greedy decoding, at most 1000 new tokens, stop at the end of the turn.
The prompt strings, regular expressions and exemplars below are the scripts' own, character for
character (they are the protocol's specification); the code around them is this project's.
lm-eval runs the generation (evaluation.py); this module holds what is specific to the protocol:
prompts, answer extraction and aggregation.
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
from collections import Counter

from .records import DataError

SOURCE = ("kekezhai/SLM-Alignment-Research@1ec8ee0fc7c55166a9ee52f0077a62d8dbe89987 "
          "eval/test_evaluate_chat_{mmlu,cmmlu,ceval,gsm8k,humaneval}.py")
LETTERS = "ABCD"
MAX_NEW_TOKENS = 1000  # the scripts' model.generate(max_new_tokens=1000)

# ---------------------------------------------------------------- prompts

MMLU_INSTRUCTION = ("The following is a multiple-choice question. Please choose the most suitable one among "
                    "A, B, C and D as the answer to this question.\n\n")


def _options(choices: list[str]) -> str:
    return "".join(f"{letter}. {option}\n" for letter, option in zip(LETTERS, choices, strict=True))


def mmlu_prompt(doc: dict) -> str:
    """MMLU's format_example; the author's CMMLU script uses the same English instruction."""
    return MMLU_INSTRUCTION + doc["question"] + "\n" + _options(doc["choices"])


def ceval_prompt(doc: dict) -> str:
    """C-Eval's format_example: question, blank line, options; no instruction."""
    return doc["question"] + "\n\n" + _options(doc["choices"])


GSM8K_EXEMPLARS = (
    "Question: Angelo and Melanie want to plan how many hours over the next week they should study together for "
    "their test next week. They have 2 chapters of their textbook to study and 4 worksheets to memorize. They figure "
    "out that they should dedicate 3 hours to each chapter of their textbook and 1.5 hours for each worksheet. If they "
    "plan to study no more than 4 hours each day, how many days should they plan to study total over the next week if "
    "they take a 10-minute break every hour, include 3 10-minute snack breaks each day, and 30 minutes for lunch each "
    "day?\nLet's think step by step\n"
    "Angelo and Melanie think they should dedicate 3 hours to each of the 2 chapters, 3 hours x 2 chapters = 6 hours "
    "total.\nFor the worksheets they plan to dedicate 1.5 hours for each worksheet, 1.5 hours x 4 worksheets = 6 hours "
    "total.\nAngelo and Melanie need to start with planning 12 hours to study, at 4 hours a day, 12 / 4 = 3 days.\n"
    "However, they need to include time for breaks and lunch. Every hour they want to include a 10-minute break, so 12 "
    "total hours x 10 minutes = 120 extra minutes for breaks.\nThey also want to include 3 10-minute snack breaks, 3 x "
    "10 minutes = 30 minutes.\nAnd they want to include 30 minutes for lunch each day, so 120 minutes for breaks + 30 "
    "minutes for snack breaks + 30 minutes for lunch = 180 minutes, or 180 / 60 minutes per hour = 3 extra hours.\nSo "
    "Angelo and Melanie want to plan 12 hours to study + 3 hours of breaks = 15 hours total.\nThey want to study no "
    "more than 4 hours each day, 15 hours / 4 hours each day = 3.75\nThey will need to plan to study 4 days to allow "
    "for all the time they need.\nThe answer is 4\n\n"
    "Question: Mark's basketball team scores 25 2 pointers, 8 3 pointers and 10 free throws.  Their opponents score "
    "double the 2 pointers but half the 3 pointers and free throws.  What's the total number of points scored by both "
    "teams added together?\nLet's think step by step\n"
    "Mark's team scores 25 2 pointers, meaning they scored 25*2= 50 points in 2 pointers.\nHis team also scores 6 3 "
    "pointers, meaning they scored 8*3= 24 points in 3 pointers\nThey scored 10 free throws, and free throws count as "
    "one point so they scored 10*1=10 points in free throws.\nAll together his team scored 50+24+10= 84 points\nMark's "
    "opponents scored double his team's number of 2 pointers, meaning they scored 50*2=100 points in 2 pointers.\nHis "
    "opponents scored half his team's number of 3 pointers, meaning they scored 24/2= 12 points in 3 pointers.\nThey "
    "also scored half Mark's team's points in free throws, meaning they scored 10/2=5 points in free throws.\nAll "
    "together Mark's opponents scored 100+12+5=117 points\nThe total score for the game is both team's scores added "
    "together, so it is 84+117=201 points\nThe answer is 201\n\n"
    "Question: Bella has two times as many marbles as frisbees. She also has 20 more frisbees than deck cards. If she "
    "buys 2/5 times more of each item, what would be the total number of the items she will have if she currently has "
    "60 marbles?\nLet's think step by step\n"
    "When Bella buys 2/5 times more marbles, she'll have increased the number of marbles by 2/5*60 = 24\nThe total "
    "number of marbles she'll have is 60+24 = 84\nIf Bella currently has 60 marbles, and she has two times as many "
    "marbles as frisbees, she has 60/2 = 30 frisbees.\nIf Bella buys 2/5 times more frisbees, she'll have 2/5*30 = 12 "
    "more frisbees.\nThe total number of frisbees she'll have will increase to 30+12 = 42\nBella also has 20 more "
    "frisbees than deck cards, meaning she has 30-20 = 10 deck cards\nIf she buys 2/5 times more deck cards, she'll "
    "have 2/5*10 = 4 more deck cards.\nThe total number of deck cards she'll have is 10+4 = 14\nTogether, Bella will "
    "have a total of 14+42+84 = 140 items\nThe answer is 140\n\n"
    "Question: A group of 4 fruit baskets contains 9 apples, 15 oranges, and 14 bananas in the first three baskets and "
    "2 less of each fruit in the fourth basket. How many fruits are there?\nLet's think step by step\n"
    "For the first three baskets, the number of apples and oranges in one basket is 9+15=24\nIn total, together with "
    "bananas, the number of fruits in one basket is 24+14=38 for the first three baskets.\nSince there are three "
    "baskets each having 38 fruits, there are 3*38=114 fruits in the first three baskets.\nThe number of apples in the "
    "fourth basket is 9-2=7\nThere are also 15-2=13 oranges in the fourth basket\nThe combined number of oranges and "
    "apples in the fourth basket is 13+7=20\nThe fourth basket also contains 14-2=12 bananas.\nIn total, the fourth "
    "basket has 20+12=32 fruits.\nThe four baskets together have 32+114=146 fruits.\nThe answer is 146\n\n"
)
GSM8K_SHOTS = 4  # the exemplars above; the author's README runs the script with --use-fewshot


def gsm8k_prompt(doc: dict, num_fewshot: int = GSM8K_SHOTS) -> str:
    """--use-fewshot: the four exemplars and the question in one user message; without it the bare question."""
    if num_fewshot == GSM8K_SHOTS:
        return GSM8K_EXEMPLARS + f"Question: {doc['question']}\nLet's think step by step"
    if num_fewshot == 0:
        return doc["question"]
    raise ValueError(f"gsm8k under protocol chat: num_fewshot must be 0 or {GSM8K_SHOTS} (the author's fixed "
                     f"exemplars), got {num_fewshot}")


_SIGNATURE = "def\\s+({name}.*?):\\s*\\n"
_DOCSTRING = re.compile(r"(?:\"\"\"|''')(.*?)(?:\"\"\"|''')", re.DOTALL)


def humaneval_prompt(doc: dict) -> str:
    """The humanevalpack prompt: the entry point's signature, the (first) docstring with each line stripped,
    then the original prompt."""
    signature = re.search(_SIGNATURE.format(name=re.escape(doc["entry_point"])), doc["prompt"])
    docstring = _DOCSTRING.search(doc["prompt"])
    if signature is None or docstring is None:
        raise DataError(f"{doc.get('task_id')}: prompt has no `def {doc['entry_point']}` line or no docstring")
    description = "\n".join(line.strip() for line in docstring.group(1).split("\n"))
    return (f"Write a Python function `{signature.group(1)}` to solve the following problem:\n"
            f"{description}\n{doc['prompt']}")


# ---------------------------------------------------------------- multiple-choice extraction

# English cascade (MMLU, CMMLU): answer/choice phrase, "X is correct/right", a leading letter, the first
# standalone letter.
_EN_CASCADE = [
    re.compile(r"(?:(?:[Cc]hoose)|(?:(?:[Aa]nswer|[Cc]hoice)(?![^ABCD]{0,20}?(?:n't|not))[^ABCD]{0,10}?\b(?:|is|:|be))\b)"
               r"[^ABCD]{0,20}?\b(A|B|C|D)\b"),
    re.compile(r"\b(A|B|C|D)\b(?![^ABCD]{0,8}?(?:n't|not)[^ABCD]{0,5}?(?:correct|right))[^ABCD]{0,10}?\b(?:correct|right)\b"),
    re.compile(r"^(A|B|C|D)(?:\.|,|:|$)"),
    re.compile(r"(?<![a-zA-Z])(A|B|C|D)(?![a-zA-Z=])"),
]
# Chinese cascade (C-Eval): 答案是A / 选项是A / 应该选A选项, A选项正确 / A选项符合题意, a leading letter, the first
# standalone letter.
_ZH_CASCADE = [
    re.compile(r"(?:(?:选|选择|选定)[：:]?\s*|(?:(?:答案|选项)(?![^ABCD]{0,10}?(?:不|非)[^ABCD]{0,10}?(?:是|选|为|：|:|】))"
               r"[^ABCD]{0,10}?(?:是|选|为|：|:|】))[^ABCD]{0,10}?)(A|B|C|D)(?:选项)?(?:\)|。|\.|，|,|．|、|A|B|C|D|$|：|:|\)|）)"),
    re.compile(r"(A|B|C|D)(?:选?项)?(?![^ABCD]{0,4}?(?:不|非)[^ABCD]{0,4}?(?:正确|对[的，。：]|符合))[^ABCD]{0,4}?"
               r"(?:正确|对[的，。：]|符合)"),
    re.compile(r"^[\(（]?(A|B|C|D)(?:。|\)|）|\.|，|,|．|：|:|$)"),
    re.compile(r"(?<![a-zA-Z])(A|B|C|D)(?![a-zA-Z=])"),
]
CASCADE_STEPS = ("phrase", "correct", "leading", "first_letter")


def _by_length(choices: list[str]) -> list[tuple[str, str]]:
    # Longest option first, so an option that contains a shorter one is replaced whole; ties keep A-D order.
    return sorted(zip(LETTERS, choices, strict=True), key=lambda pair: len(pair[1]), reverse=True)


def replace_options_en(text: str, choices: list[str]) -> str:
    """MMLU/CMMLU process_before_extraction: every option text (trailing '.' dropped) -> its letter,
    case-insensitively. An option that is empty after the strip is skipped (the script would put its letter
    between every character)."""
    for letter, option in _by_length(choices):
        option = option.rstrip(".")
        if option:
            text = re.sub(re.escape(option), letter, text, flags=re.IGNORECASE)
    return text


def replace_question_and_options_zh(text: str, question: str, choices: list[str]) -> str:
    """C-Eval process_before_extraction: the last sentence of the stem split at its blank ('____'): the part
    before the blank -> '答案是', the part after it -> '', each if longer than 4 characters; then every option
    (trailing '。' dropped) -> its letter, exact match."""
    parts = question.rstrip("。").split("。")[-1].split("_")
    if len(parts[0].strip()) > 4:
        text = text.replace(parts[0], "答案是")
    if len(parts[-1].strip()) > 4:
        text = text.replace(parts[-1], "")
    for letter, option in _by_length(choices):
        option = option.rstrip("。")
        if option:
            text = text.replace(option, letter)
    return text


def closest_option(text: str, choices: list[str]) -> str:
    """The letter of the option thefuzz finds closest to the text (its default WRatio scorer)."""
    from thefuzz import process

    return LETTERS[choices.index(process.extractOne(text, choices)[0])]


def _cascade(text: str, choices: list[str], cascade) -> tuple[str, str]:
    for step, pattern in zip(CASCADE_STEPS, cascade, strict=True):
        match = pattern.search(text)
        if match:
            return match.group(1), step
    return closest_option(text, choices), "fuzzy"


def extract_choice_en(response: str, choices: list[str]) -> tuple[str, str]:
    """(letter, how) for an MMLU/CMMLU reply; every reply gets a letter."""
    return _cascade(replace_options_en(response, choices), choices, _EN_CASCADE)


def extract_choice_zh(response: str, question: str, choices: list[str]) -> tuple[str, str]:
    """(letter, how) for a C-Eval reply; every reply gets a letter."""
    return _cascade(replace_question_and_options_zh(response, question, choices), choices, _ZH_CASCADE)


def extract_choice(benchmark: str, response: str, doc: dict) -> tuple[str, str]:
    if benchmark == "ceval":
        return extract_choice_zh(response, doc["question"], doc["choices"])
    if benchmark in ("mmlu", "cmmlu"):
        return extract_choice_en(response, doc["choices"])
    raise ValueError(f"no multiple-choice extraction for {benchmark!r}")


# ---------------------------------------------------------------- GSM8K

_LAST_NUMBER = re.compile(r"([+-])?(?=([0-9]|\.[0-9]))(0|([1-9](\d{0,2}(,\d{3})*)|\d*))?(\.\d*)?(?=\D|$)")


def last_number(text: str) -> str | None:
    """The last number in the text, thousands commas and '+' removed (the script's extract_answer)."""
    matches = list(_LAST_NUMBER.finditer(text))
    return matches[-1].group().replace(",", "").replace("+", "").strip() if matches else None


def _numeric(token: str) -> float | None:
    # The script eval()s the token; a numeric literal parses the same with ast.literal_eval, which runs nothing
    # (and, like eval, rejects a leading-zero integer such as '007').
    try:
        value = ast.literal_eval(token)
        # A reply's integer too large for a float (400 digits) is no number the script can compare: its
        # eval-then-subtract raises and the item is scored wrong, so the job must not end here.
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, OverflowError):
        return None


def gsm8k_correct(completion: str, reference_solution: str, item: str = "") -> bool:
    """The completion's last number equals the reference solution's last number (the '#### N'), within 1e-4.
    A reference without a readable number is a broken benchmark row (DataError naming `item`), never a
    wrong answer; a reply's unreadable number is a wrong answer."""
    gold = last_number(reference_solution)
    if gold is None or _numeric(gold) is None:
        raise DataError(f"GSM8K item {item or '?'}: reference solution has no readable final number: "
                        f"{reference_solution[-80:]!r}")
    predicted = last_number(completion)
    value = _numeric(predicted) if predicted is not None else None
    return value is not None and math.isclose(_numeric(gold), value, rel_tol=0, abs_tol=1e-4)


# ---------------------------------------------------------------- HumanEval


def extract_code(text: str, entry_point: str) -> str:
    """The function body to append to the HumanEval prompt: after `def {entry_point}...:` inside a fenced
    block, else after that line anywhere in the text, else after the first `def ...:` line, else the whole
    reply indented by four spaces (a model that just continued the body)."""
    name = re.escape(entry_point)
    for pattern in (rf"```(?:[Pp]ython\n)?.*?def\s+{name}.*?:\n(.*?)\n```",
                    rf"def\s+{name}.*?:\n(.*?)(?:\n(?!\n*(?:  |\t))|$)",
                    r"def.*?:\n(.*?)(?:\n(?!\n*(?:  |\t))|$)"):
        match = re.search(pattern, text, re.DOTALL)
        if match:
            return match.group(1)
    return textwrap.indent(text, " " * 4)


# ---------------------------------------------------------------- aggregation

# CMMLU: the script's cal_mmlu sums over its category lists, and the 15 "china specific" subjects sit in two
# lists (their topic's category and "China specific"), so their questions count twice in the average.
CMMLU_CHINA_SPECIFIC = frozenset({
    "ancient_chinese", "chinese_civil_service_exam", "chinese_driving_rule", "chinese_food_culture",
    "chinese_foreign_policy", "chinese_history", "chinese_literature", "chinese_teacher_qualification",
    "construction_project_management", "elementary_chinese", "elementary_commonsense", "ethnology",
    "high_school_politics", "modern_chinese", "traditional_chinese_medicine",
})
AGGREGATION = {
    "mmlu": "micro: mean over all questions",
    "cmmlu": "micro over the script's category lists: China-specific subjects' questions count twice",
    "ceval": "macro: mean of the per-subject accuracies",
    "gsm8k": "mean over all questions",
    "humaneval": "mean over all problems (pass@1, greedy)",
}


def item_weights(benchmark: str, subjects: list[str | None]) -> list[float]:
    """Each item's weight in the benchmark's headline score (weighted mean of per-item scores)."""
    if benchmark == "ceval":
        counts = Counter(subjects)
        return [1.0 / counts[s] for s in subjects]
    if benchmark == "cmmlu":
        return [2.0 if s in CMMLU_CHINA_SPECIFIC else 1.0 for s in subjects]
    if benchmark in AGGREGATION:
        return [1.0] * len(subjects)
    raise ValueError(f"unknown benchmark {benchmark!r}")


def weighted_mean(scores: list[float], weights: list[float]) -> tuple[float, float | None]:
    """(mean, standard error): sum(w*x)/sum(w) and the delta-method error with items independent, which is
    lm-eval's sample standard error of the mean when all weights are equal; None for fewer than 2 items."""
    n, total = len(scores), sum(weights)
    if not n or total <= 0:
        raise ValueError("no items to aggregate")
    mean = sum(w * x for w, x in zip(weights, scores, strict=True)) / total
    if n < 2:
        return mean, None
    spread = sum((w * (x - mean)) ** 2 for w, x in zip(weights, scores, strict=True))
    return mean, math.sqrt(spread * n / (n - 1)) / total


def aggregate(benchmark: str, subjects: list[str | None], scores: list[float]) -> dict:
    """The benchmark's headline score as the author's script computes it, over the evaluated items."""
    if len(subjects) != len(scores):
        raise ValueError("one subject per score")
    value, stderr = weighted_mean([float(x) for x in scores], item_weights(benchmark, subjects))
    return {"value": value, "stderr": stderr, "n": len(scores), "aggregation": AGGREGATION[benchmark]}

"""The author's chat protocol (kekezhai/SLM-Alignment-Research eval/test_evaluate_chat_*.py): prompts exactly as the
scripts build them, each extractor on the scripts' own examples and on crafted replies, and the aggregation."""

import hashlib

import pytest
from conftest import BENCH

from slm_posttrain import benchmarks as B
from slm_posttrain import chat_protocol as C
from slm_posttrain.records import DataError

MMLU_ROW = {"subject": "abstract_algebra", "question": "Find the degree for the given field extension Q(sqrt(2), "
            "sqrt(3), sqrt(18)) over Q.", "choices": ["0", "4", "2", "6"], "answer": 1}
# The C-Eval script's own example (comment in process_before_extraction).
CEVAL_EXAMPLE = {"subject": "computer_network", "question": "关于传输层的面向连接服务的特性是____。",
                 "choices": ["既不保证可靠，也不保证按序交付", "不保证可靠，但保证按序交付",
                             "保证可靠，但不保证按序交付",
                             "既保证可靠，也保证按序交付"], "answer": 3}
CAPITALS = ["London", "Paris", "Rome", "Berlin"]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------- prompts


def test_mmlu_and_cmmlu_prompt_is_the_scripts_format_example():
    expected = ("The following is a multiple-choice question. Please choose the most suitable one among A, B, C and D "
                "as the answer to this question.\n\nFind the degree for the given field extension Q(sqrt(2), sqrt(3), "
                "sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\n")
    assert C.mmlu_prompt(MMLU_ROW) == expected
    cmmlu = B.load_benchmark("cmmlu", {"path": str(BENCH / "cmmlu/cmmlu.zip")})[0]
    assert C.mmlu_prompt(cmmlu).startswith(C.MMLU_INSTRUCTION + cmmlu["question"] + "\nA. ")  # the same English line


def test_ceval_prompt_is_question_blank_line_options_without_instruction():
    assert C.ceval_prompt(CEVAL_EXAMPLE) == ("关于传输层的面向连接服务的特性是____。\n\n"
                                             "A. 既不保证可靠，也不保证按序交付\n"
                                             "B. 不保证可靠，但保证按序交付\nC. 保证可靠，但不保证按序交付\n"
                                             "D. 既保证可靠，也保证按序交付\n")


def test_gsm8k_prompt_is_the_four_exemplars_then_the_question():
    # sha256 of the exemplar block as it stands in the author's test_evaluate_chat_gsm8k.py (doc_to_text).
    assert _sha(C.GSM8K_EXEMPLARS) == "25974f0a5d980c8e6b432422e959cb3293b6d715a99a90d1a4c8ab1ae207c54f"
    blocks = C.GSM8K_EXEMPLARS.split("\n\n")
    assert blocks[-1] == "" and len(blocks) == 5
    assert [b.splitlines()[-1] for b in blocks[:4]] == ["The answer is 4", "The answer is 201", "The answer is 140",
                                                        "The answer is 146"]
    assert all(b.startswith("Question: ") and "\nLet's think step by step\n" in b for b in blocks[:4])
    doc = {"question": "Tom has 3 apples and buys 2 more. How many apples does he have?"}
    assert C.gsm8k_prompt(doc) == C.GSM8K_EXEMPLARS + f"Question: {doc['question']}\nLet's think step by step"
    assert C.gsm8k_prompt(doc, 0) == doc["question"]
    with pytest.raises(ValueError, match="0 or 4"):
        C.gsm8k_prompt(doc, 5)


def test_humaneval_prompt_is_the_humanevalpack_instruction():
    problems = B.load_humaneval(BENCH / "HumanEval/HumanEval.jsonl")
    expected = ("Write a Python function `has_close_elements(numbers: List[float], threshold: float) -> bool` to solve "
                "the following problem:\nCheck if in given list of numbers, are any two numbers closer to each other "
                "than\ngiven threshold.\n>>> has_close_elements([1.0, 2.0, 3.0], 0.5)\nFalse\n>>> has_close_elements("
                "[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)\nTrue\n\n") + problems[0]["prompt"]
    assert C.humaneval_prompt(problems[0]) == expected
    assert all(C.humaneval_prompt(p).endswith(p["prompt"]) for p in problems)  # all 164 build
    with pytest.raises(DataError, match="HumanEval/x"):
        C.humaneval_prompt({"task_id": "HumanEval/x", "entry_point": "f", "prompt": "def g():\n    pass\n"})


# ---------------------------------------------------------------- multiple-choice extraction


@pytest.mark.parametrize("reply,letter,how", [
    # the English script's own pattern comments: "answer is A | choice is A | choose A", "A is correct | A is right",
    # "straight answer: A", "simply extract the first appeared letter"
    ("The answer is A", "A", "phrase"), ("The choice is B", "B", "phrase"), ("I choose C", "C", "phrase"),
    ("D is correct", "D", "correct"), ("B is right", "B", "correct"),
    ("C", "C", "leading"), ("C. because it is", "C", "leading"),
    ("Maybe (D), maybe not", "D", "first_letter"),
    # crafted: reasoning before the answer, negations, a letter inside a word, an equation
    ("Let us check each option. A is too small and so is B. Therefore, the answer is (C).", "C", "phrase"),
    ("The answer is not A. B is correct.", "B", "correct"),
    ("B isn't correct; C is right", "C", "correct"),
    ("APPLE or A=3 aside, the pick is D", "D", "first_letter"),
])
def test_english_cascade(reply, letter, how):
    assert C.extract_choice_en(reply, CAPITALS) == (letter, how)


def test_english_option_texts_become_letters_longest_first_case_insensitive():
    assert C.replace_options_en("the capital is PARIS.", CAPITALS) == "the capital is B."
    assert C.extract_choice_en("The capital of France is paris.", CAPITALS) == ("B", "first_letter")
    choices = ["Paris", "Paris, Texas", "Rome", "Berlin"]
    assert C.replace_options_en("It is Paris, Texas.", choices) == "It is B."  # not "A, Texas"
    assert C.extract_choice_en("It is Paris, Texas.", choices) == ("B", "first_letter")
    # a trailing full stop of an option is not needed in the reply
    choices = ["It was hot.", "It was cold.", "x", "y"]
    assert C.extract_choice_en("I think it was cold", choices) == ("B", "first_letter")


def test_english_fuzzy_fallback_gives_every_reply_a_letter():
    assert C.extract_choice_en("I believe it is probably Pari, not sure", CAPITALS) == ("B", "fuzzy")
    assert C.extract_choice_en("i do not know", CAPITALS)[0] in "ABCD"
    assert C.extract_choice_en("", CAPITALS) == ("A", "fuzzy")  # nothing to go on: the first option


def test_english_extraction_on_real_rows():
    # Quirks the protocol inherits: an option that is itself a letter is replaced too.
    assert C.replace_options_en("The answer is B", ["A", "~A", "B", "~B"]) == "The Answer is C"
    assert C.extract_choice_en("The answer is B", ["A", "~A", "B", "~B"]) == ("C", "phrase")
    for name, path in (("mmlu", "mmlu/mmlu.zip"), ("cmmlu", "cmmlu/cmmlu.zip")):
        rows = B.stratified_sample(B.load_benchmark(name, {"path": str(BENCH / path)}), 200, seed=0)
        gold = ["ABCD"[r["answer"]] for r in rows]
        extracted = [C.extract_choice(name, f"The answer is {g}.", r)[0] for g, r in zip(gold, rows, strict=True)]
        assert extracted.count(False) == 0
        stated = [C.extract_choice(name, r["choices"][r["answer"]], r)[0] for r in rows]
        assert sum(s == g for s, g in zip(stated, gold, strict=True)) >= 198, name  # the gold option's text, verbatim


@pytest.mark.parametrize("reply,letter,how", [
    # the C-Eval script's own pattern comments: 答案是A | 选项是A | 应该选A选项, A选项正确 | A选项符合题意, 直接输出 A
    ("答案是A", "A", "phrase"), ("选项是B", "B", "phrase"), ("应该选C选项", "C", "phrase"),
    ("D选项正确", "D", "correct"), ("A选项符合题意", "A", "correct"),
    ("B", "B", "leading"), ("（C）", "C", "leading"),
    # crafted
    ("我们逐一分析。首先看A，它说可靠但不按序。综上所述，正确答案为：D。", "D", "phrase"),
    ("A选项不正确，B选项正确。", "B", "correct"),
    ("我认为是 C 吧", "C", "first_letter"),
])
def test_chinese_cascade(reply, letter, how):
    assert C.extract_choice_zh(reply, "下列说法正确的是", ["甲", "乙", "丙", "丁"]) == (letter, how)


def test_ceval_scripts_own_example_question_stem_and_option_become_the_answer():
    reply = "关于传输层的面向连接服务的特性是既保证可靠，也保证按序交付"  # the script's "Example Model Output"
    q, choices = CEVAL_EXAMPLE["question"], CEVAL_EXAMPLE["choices"]
    assert C.replace_question_and_options_zh(reply, q, choices) == "答案是D"  # its "Processed Output"
    assert C.extract_choice("ceval", reply, CEVAL_EXAMPLE) == ("D", "phrase")
    # the stem's part after the blank is dropped; a short part (<= 4 characters) is left alone
    assert C.replace_question_and_options_zh("中国的首都是北京市，位于华北", "中国的首都是____，位于华北。",
                                             ["上海市", "北京市", "广州市", "深圳市"]) == "答案是B"
    assert C.replace_question_and_options_zh("首都是甲", "首都是____", ["甲", "乙", "丙", "丁"]) == "首都是A"
    # exact (case-sensitive) replacement, longest first
    assert C.replace_question_and_options_zh("保证可靠，但不保证按序交付", q, choices) == "C"


def test_chinese_fuzzy_fallback_and_real_rows():
    assert C.extract_choice("ceval", "应该是保证可靠的那个吧，但我拿不准顺序", CEVAL_EXAMPLE)[1] == "fuzzy"
    rows = B.stratified_sample(B.load_benchmark("ceval", {"path": str(BENCH / "ceval/ceval.zip")}), 200, seed=0)
    for row in rows:
        gold = "ABCD"[row["answer"]]
        assert C.extract_choice("ceval", f"答案是{gold}", row)[0] == gold
        assert C.extract_choice("ceval", row["choices"][row["answer"]], row)[0] == gold


# ---------------------------------------------------------------- GSM8K


def test_gsm8k_gold_is_the_last_number_of_every_reference_solution():
    rows = B.load_benchmark("gsm8k", {"path": str(BENCH / "gsm8k/test.jsonl")})
    assert len(rows) == 1319
    assert all(float(C.last_number(r["answer"])) == float(r["target"]) for r in rows)
    assert all(C.gsm8k_correct(f"So the total is {r['target']}.", r["answer"]) for r in rows)


@pytest.mark.parametrize("completion,correct", [
    ("Natalia sold 48/2 = 24 clips in May.\n48+24 = 72\nThe answer is 72", True),  # the exemplars' format
    ("The answer is 72.", True), ("$72.00", True), ("+72", True), ("72 clips, i.e. 0.072 thousand", False),
    ("The answer is 72\n\nQuestion: next one 5", False),  # no stop at a new "Question:": the last number counts
    ("It is 1,072", False), ("seventy-two", False), ("072", False),  # like the script's eval(), '072' is no number
])
def test_gsm8k_last_number_compared_numerically(completion, correct):
    assert C.gsm8k_correct(completion, "She sold 48 + 24 = <<48+24=72>>72 clips.\n#### 72") is correct


@pytest.mark.parametrize("completion", [
    "The answer is " + "9" * 400,  # an int float() cannot hold: OverflowError, not the end of the job
    "So " + "1" * 5000,  # over Python's int-string limit: ValueError
    "The answer is 1e999",
])
def test_gsm8k_number_too_large_for_a_float_is_scored_wrong(completion):
    assert C.gsm8k_correct(completion, "#### 72", "gsm8k-00001") is False


@pytest.mark.parametrize("reference", ["She sold all of them.\n#### many", "#### " + "9" * 400, ""])
def test_gsm8k_unreadable_reference_is_a_data_error_naming_the_item(reference):
    with pytest.raises(DataError, match="gsm8k-00042"):
        C.gsm8k_correct("The answer is 72", reference, "gsm8k-00042")


def test_gsm8k_numbers():
    assert C.last_number("It costs $1,234.50 in total") == "1234.50"
    assert C.last_number("from -3 to +7.") == "7."
    assert C.last_number("no digits") is None
    assert C.gsm8k_correct("1,000.5 in all", "#### 1000.5")
    assert C.gsm8k_correct("a loss of -12", "#### -12")


# ---------------------------------------------------------------- HumanEval


def test_extract_code_cascade():
    entry = "add"
    fenced = ("Sure:\n```python\nfrom typing import List\n\ndef add(x: int, y: int) -> int:\n    z = x + y\n"
              "    return z\n```\nDone.")
    assert C.extract_code(fenced, entry) == "    z = x + y\n    return z"
    bare_def = "def add(x, y):\n    return x + y\n\nThis adds the numbers.\n"
    assert C.extract_code(bare_def, entry) == "    return x + y"  # up to the first unindented line
    other_def = "def helper(v):\n    return v\nok"
    assert C.extract_code(other_def, entry) == "    return v"
    assert C.extract_code("return x + y", entry) == "    return x + y"  # a bare body is indented


def test_extracted_code_runs_in_the_sandbox(monkeypatch):
    from slm_posttrain.sandbox import check_humaneval

    monkeypatch.setenv("SLM_ALLOW_CODE_EXECUTION", "1")
    problem = B.load_humaneval(BENCH / "HumanEval/HumanEval.jsonl")[2]  # truncate_number
    body = problem["canonical_solution"]

    def passes(reply: str) -> bool:
        return check_humaneval(problem, C.extract_code(reply, problem["entry_point"]), timeout=10)["passed"]

    assert passes(f"Here it is:\n```python\n{problem['prompt']}{body}```\n")
    assert passes(f"```python\ndef truncate_number(number: float) -> float:\n{body}```")
    assert passes(body.strip())
    assert not passes("```python\ndef truncate_number(number: float) -> float:\n    return number\n```")


# ---------------------------------------------------------------- aggregation


def test_aggregation_micro_macro_and_cmmlu_categories():
    subjects, scores = ["a", "a", "a", "b"], [1, 1, 0, 0]
    mmlu = C.aggregate("mmlu", subjects, scores)
    assert mmlu["value"] == 0.5 and mmlu["n"] == 4
    assert mmlu["stderr"] == pytest.approx((1 / 3 / 4) ** 0.5)  # lm-eval's sample standard error of the mean
    assert C.aggregate("ceval", subjects, scores)["value"] == pytest.approx((2 / 3 + 0) / 2)  # per-subject mean
    # CMMLU: a China-specific subject is in two of the script's category lists, so it counts twice
    cmmlu = C.aggregate("cmmlu", ["ancient_chinese", "agronomy", "agronomy"], [1, 0, 0])
    assert cmmlu["value"] == pytest.approx(2 / 4)
    assert C.aggregate("gsm8k", [None, None], [1.0, 0.0])["value"] == 0.5
    assert C.aggregate("mmlu", ["a"], [1])["stderr"] is None
    with pytest.raises(ValueError):
        C.aggregate("mmlu", ["a"], [1, 0])


def test_aggregation_subject_names_match_the_shipped_benchmarks():
    cmmlu = {r["subject"] for r in B.load_benchmark("cmmlu", {"path": str(BENCH / "cmmlu/cmmlu.zip")})}
    assert len(cmmlu) == 67 and cmmlu >= C.CMMLU_CHINA_SPECIFIC and len(C.CMMLU_CHINA_SPECIFIC) == 15
    ceval = [r["subject"] for r in B.load_benchmark("ceval", {"path": str(BENCH / "ceval/ceval.zip")})]
    weights = C.item_weights("ceval", ceval)
    assert len(set(ceval)) == 52 and sum(weights) == pytest.approx(52)  # each subject weighs the same

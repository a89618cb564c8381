"""The five paper benchmarks, described once: name, language, metric, file format, splits, hub copy.

benchmark_data (reading and sampling), evaluation (lm-eval tasks) and tables (row order, labels) all
read this registry; the config's `evaluation.benchmarks` keys are its names (config/schema.yaml lists
the same names, and a test checks that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

# File formats of the shipped copies (resources/benchmarks/, original formats):
MC_ZIP = "mc_zip"  # a zip of per-subject CSVs: question, A, B, C, D, answer letter
GSM8K_JSONL = "gsm8k_jsonl"  # {question, answer: worked solution ending in "#### N"}
HUMANEVAL_JSONL = "humaneval_jsonl"  # {task_id, prompt, canonical_solution, test, entry_point}


@dataclass(frozen=True)
class Benchmark:
    name: str  # config key, sample file stem (<name>.jsonl), lm-eval task suffix (slm_<name>)
    display: str  # label in the paper's tables
    language: str  # en | zh: the prompt's language
    metric: str  # lm-eval metric reported: acc | exact_match | pass@1
    file_format: str  # MC_ZIP | GSM8K_JSONL | HUMANEVAL_JSONL
    split: str  # the split evaluated unless the config names another
    splits: tuple[str, ...]  # splits the shipped copy holds
    shipped: str  # the copy under resources/benchmarks/
    member_pattern: str | None = None  # MC_ZIP: zip member regex for one split ({split}), group `subject`
    has_header: bool = False  # MC_ZIP: CSVs start with a header row and an index column
    hub: tuple[str, str | None, str] | None = None  # (dataset id, config, split) when no local copy is configured

    @property
    def multiple_choice(self) -> bool:
        return self.file_format == MC_ZIP

    @property
    def stratify_key(self) -> str | None:
        """The field a demo sample is spread over (subjects), or None for a plain seeded sample."""
        return "subject" if self.multiple_choice else None


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("mmlu", "MMLU", "en", "acc", MC_ZIP, "test", ("dev", "val", "test"), "mmlu/mmlu.zip",
              member_pattern=r"data/{split}/(?P<subject>.+)_{split}\.csv$", hub=("cais/mmlu", "all", "test")),
    Benchmark("cmmlu", "CMMLU", "zh", "acc", MC_ZIP, "test", ("dev", "test"), "cmmlu/cmmlu.zip",
              member_pattern=r"{split}/(?P<subject>.+)\.csv$", has_header=True),
    # The paper scores C-Eval on val (its test answers are not public).
    Benchmark("ceval", "C-Eval (val)", "zh", "acc", MC_ZIP, "val", ("dev", "val", "test"), "ceval/ceval.zip",
              member_pattern=r"{split}/(?P<subject>.+)_{split}\.csv$", has_header=True),
    Benchmark("gsm8k", "GSM8K", "en", "exact_match", GSM8K_JSONL, "test", ("test",), "gsm8k/test.jsonl",
              hub=("openai/gsm8k", "main", "test")),
    Benchmark("humaneval", "HumanEval", "en", "pass@1", HUMANEVAL_JSONL, "test", ("test",),
              "HumanEval/HumanEval.jsonl", hub=("openai/openai_humaneval", None, "test")),
)}
ORDER = list(BENCHMARKS)  # the tables' row order
MULTIPLE_CHOICE = [name for name, b in BENCHMARKS.items() if b.multiple_choice]


def benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})") from None

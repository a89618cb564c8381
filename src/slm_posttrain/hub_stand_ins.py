"""Stand-ins stored in a local Hugging Face cache under the paper's own hub ids, for the paper rehearsal.

The rehearsal runs config/paper.yaml unchanged but for scale on a machine that cannot reach the hub.
This module writes, into HF_HOME's hub cache (the layout huggingface_hub itself writes:
hub/<models|datasets>--<org>--<name>/refs/main + snapshots/<revision>/<files>), tiny random-weight
Qwen2-architecture models with a ChatML chat template, and a few dozen rows of each dataset in that
dataset's own file layout and column names. With HF_HUB_OFFLINE=1 the pipeline's ordinary hub code
(`datasets.load_dataset(id)`, `from_pretrained(id)`) then reads them: nothing in the pipeline knows.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# A ChatML template (the one Qwen chat models use), for a stand-in whose tokenizer has none.
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def repo_folder(hf_home: str | Path, repo_type: str, repo_id: str) -> Path:
    return Path(hf_home) / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"


def _snapshot(hf_home: str | Path, repo_type: str, repo_id: str, content_key: str) -> Path:
    """A snapshot folder with refs/main pointing at it; the revision is derived from the content."""
    revision = hashlib.sha1(f"{repo_type}:{repo_id}:{content_key}".encode()).hexdigest()
    folder = repo_folder(hf_home, repo_type, repo_id)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    snap = folder / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def seed_model(
    hf_home: str | Path, repo_id: str, tokenizer, seed: int = 0, hidden_size: int = 64, layers: int = 2, heads: int = 4
) -> Path:
    """A random-weight Qwen2 (see modelzoo.build_tiny_qwen2) stored as the hub snapshot of `repo_id`."""
    from .modelzoo import build_tiny_qwen2

    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML
    snap = _snapshot(hf_home, "model", repo_id, f"{seed}:{hidden_size}:{layers}:{heads}")
    build_tiny_qwen2(snap, tokenizer, seed=seed, hidden_size=hidden_size, layers=layers, heads=heads)
    return snap


def _write(path: Path, rows: list[dict], layout: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif layout == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    elif layout == "parquet":
        import pandas as pd

        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown layout {layout!r}")


def _alpaca_text(r: dict) -> str:
    prompt = f"### Instruction:\n{r['instruction']}\n\n"
    if r["input"]:
        prompt += f"### Input:\n{r['input']}\n\n"
    return (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        f"request.\n\n{prompt}### Response:\n{r['output']}"
    )


# Each dataset of paper section 3.1 as its hub repository stores it: file name, file layout, columns.
# Rows are {instruction, input, output} examples (Chinese or English as the dataset is) recast into them.
DATASETS = {
    # JSON lines, one conversation per line: {id, conversations: [{from: human|assistant, value}]}
    "BelleGroup/train_3.5M_CN": (
        "train_3.5M_CN.json",
        "jsonl",
        "zh",
        lambda i, r: {
            "id": str(i),
            "conversations": [{"from": "human", "value": _joined(r)}, {"from": "assistant", "value": r["output"]}],
        },
    ),
    # JSON lines {instruction, input, output}
    "BelleGroup/school_math_0.25M": (
        "school_math_0.25M.json",
        "jsonl",
        "zh",
        lambda i, r: {"instruction": _joined(r), "input": "", "output": r["output"]},
    ),
    # several files of different layouts; translated_instructions.jsonl: {instruction, input, output}
    "BAAI/COIG": (
        "translated_instructions.jsonl",
        "jsonl",
        "zh",
        lambda i, r: {"instruction": r["instruction"], "input": r["input"], "output": r["output"]},
    ),
    # the instruction-format file of the role-playing conversations: a JSON list of alpaca-like records
    "camel-ai/ai_society": (
        "ai_society_instructions.json",
        "json",
        "en",
        lambda i, r: {"id": f"{i:03d}", "instruction": r["instruction"], "input": r["input"], "output": r["output"]},
    ),
    # JSON lines {instruction, context, response, category}
    "databricks/databricks-dolly-15k": (
        "databricks-dolly-15k.jsonl",
        "jsonl",
        "en",
        lambda i, r: {
            "instruction": r["instruction"],
            "context": r["input"],
            "response": r["output"],
            "category": "open_qa" if not r["input"] else "information_extraction",
        },
    ),
    # one parquet shard {instruction, input, output, text}
    "vicgalle/alpaca-gpt4": (
        "data/train-00000-of-00001.parquet",
        "parquet",
        "en",
        lambda i, r: {
            "instruction": r["instruction"],
            "input": r["input"],
            "output": r["output"],
            "text": _alpaca_text(r),
        },
    ),
}


def _joined(r: dict) -> str:
    return f"{r['instruction']}\n{r['input']}".strip()


def seed_dataset(hf_home: str | Path, repo_id: str, examples: list[dict]) -> Path:
    """Write `examples` ({instruction, input, output}) as the hub snapshot of `repo_id` in its layout."""
    name, layout, _, recast = DATASETS[repo_id]
    rows = [recast(i, r) for i, r in enumerate(examples)]
    snap = _snapshot(hf_home, "dataset", repo_id, hashlib.sha256(json.dumps(rows).encode()).hexdigest())
    _write(snap / name, rows, layout)
    return snap


def prepare_dataset_cache(hf_home: str | Path, repo_id: str, data_files: str | list | None = None) -> Path:
    """Prepare the Arrow cache `datasets.load_dataset(repo_id[, data_files=...])` leaves after an online
    load, from the hub snapshot, so the same call offline finds it (datasets' cached-dataset lookup:
    <HF_HOME>/datasets/<org>___<name>/<config id>/<version>/<hash>)."""
    import shutil
    import tempfile

    import datasets
    from datasets.naming import camelcase_to_snakecase
    from datasets.packaged_modules.json.json import Json
    from datasets.packaged_modules.parquet.parquet import Parquet

    name, layout, _, _ = DATASETS[repo_id]
    folder = repo_folder(hf_home, "dataset", repo_id)
    revision = (folder / "refs" / "main").read_text().strip()
    builder_cls = Parquet if layout == "parquet" else Json
    org, short = repo_id.split("/")
    snake = camelcase_to_snakecase(short)
    # The folder name the offline lookup asks for: "default", or the config id of the data_files given.
    config_id = (
        datasets.BuilderConfig("default").create_config_id(config_kwargs={"data_files": data_files})
        if data_files
        else "default"
    )
    target = Path(hf_home) / "datasets" / f"{org}___{snake}" / config_id
    with tempfile.TemporaryDirectory() as tmp:
        builder = builder_cls(
            cache_dir=tmp,
            dataset_name=snake,
            hash=revision,
            data_files={"train": [str(folder / "snapshots" / revision / name)]},
        )
        builder.download_and_prepare()
        (built,) = (Path(tmp) / snake).iterdir()  # the one config folder it wrote
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(built, target, ignore=shutil.ignore_patterns("*.lock"))
    return target

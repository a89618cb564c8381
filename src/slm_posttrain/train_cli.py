"""Entry point for one training process under `accelerate launch` (see launch.py)."""

from __future__ import annotations

import argparse
import json

from .training import train


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", required=True, choices=["sft", "kto"])
    parser.add_argument("--start", required=True, help="model folder to start from")
    parser.add_argument("--data", required=True, help="training JSONL")
    parser.add_argument("--out", required=True, help="final checkpoint folder")
    parser.add_argument("--work", required=True, help="intermediate checkpoints (resume point)")
    parser.add_argument("--spec", required=True, help="JSON file: {spec: the training.<run> block, launch: settings}")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as f:
        launch_spec = json.load(f)
    # The launching process already claimed the work folder (launch.train_launched).
    train(args.kind, args.start, args.data, args.out, args.work, launch_spec["spec"], launch=launch_spec["launch"],
          manage_work_dir=False)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Print the lineage of any result file: the rule that wrote it and, recursively, its inputs.

    python scripts/provenance.py results/tables/table4_4.csv [--digests]

For a table, also print where each number came from (its .provenance.json)."""
import argparse
import json
from pathlib import Path

from slm_posttrain.provenance import lineage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--root", default=".", help="the workflow's working directory")
    parser.add_argument("--digests", action="store_true", help="print a sha256 (first 16 hex) of every file")
    args = parser.parse_args()
    print("\n".join(lineage(args.path, args.root, args.digests)))
    sidecar = Path(args.root) / Path(args.path).with_suffix(".provenance.json")
    if sidecar.exists():
        prov = json.loads(sidecar.read_text())
        print(f"\nnumbers ({sidecar}):")
        for cell in prov["cells"]:
            print(f"  {cell['evaluation_set']:<14} {cell['column']:<15} {cell['value']:>7}  "
                  f"{cell['model']:<6} checkpoint={cell['checkpoint']} sha256={str(cell['checkpoint_sha256'])[:16]} "
                  f"benchmark sha256={str(cell['benchmark_file_sha256'])[:16]}")
        git = prov["environment"]["git"]
        print(f"  git {git['commit']}{' (dirty)' if git['dirty'] else ''}; seed {prov['config'].get('seed')}")


if __name__ == "__main__":
    main()

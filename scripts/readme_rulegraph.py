"""README.md's rule graph: the Mermaid block between the `rulegraph` markers, made from
`snakemake --forceall --rulegraph mermaid-js all` on the default config (config/config.yaml).

    python scripts/readme_rulegraph.py --write   # rewrite the block from the workflow as it is
    python scripts/readme_rulegraph.py --check   # exit 1, naming the differences, when it no longer matches

Snakemake numbers its nodes in DAG traversal order, which changes with Python's hash seed, and colours
every node: the block instead names each node by its rule and lists, one line per rule, the rules it reads
from (`a & b --> c`), in a stable order. Same nodes and edges, a third of the lines."""

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BEGIN, END = "<!-- rulegraph: begin -->", "<!-- rulegraph: end -->"
COMMAND = [sys.executable, "-m", "snakemake", "--forceall", "--rulegraph", "mermaid-js", "all"]
# Words Mermaid's flowchart parser reads as keywords, and ids that would start an edge (`o`, `x`).
UNSAFE_ID = re.compile(r"^(end|graph|flowchart|subgraph|style|class|classDef|click|linkStyle|default|[ox].*)$")


def snakemake_rulegraph() -> tuple[set[str], set[tuple[str, str]]]:
    """The rules and (upstream, downstream) edges of the default config's `all` target."""
    proc = subprocess.run(COMMAND, cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(COMMAND[2:])} failed:\n{proc.stderr[-3000:]}")
    return parse(proc.stdout)


def parse(text: str) -> tuple[set[str], set[tuple[str, str]]]:
    """Rules and edges of a Mermaid flowchart, in snakemake's form (`id0[all]`, `id1 --> id0`) or ours
    (`a & b --> c`, nodes `r_end["end"]` where the rule name is unsafe as an id)."""
    names, edges = {}, set()
    for line in text.splitlines():
        line = line.strip()
        for node, label in re.findall(r"(\w+)\[\"?([\w.-]+)\"?\]", line):
            names[node] = label
        if "-->" in line:
            left, right = (re.sub(r"\[[^\]]*\]", "", side) for side in line.split("-->"))
            for src in left.split("&"):
                for dst in right.split("&"):
                    edges.add((src.strip(), dst.strip()))
        elif re.fullmatch(r"\w+", line) and line not in ("flowchart", "TB"):
            names.setdefault(line, line)
    edges = {(names.get(a, a), names.get(b, b)) for a, b in edges}
    rules = set(names.values()) | {n for edge in edges for n in edge}
    return rules, edges


def _node(rule: str) -> str:
    return f'r_{rule}["{rule}"]' if UNSAFE_ID.match(rule) else rule


def render(rules: set[str], edges: set[tuple[str, str]]) -> str:
    """The block: rules in topological order (ties by name), each with the rules it reads from."""
    upstream = {rule: sorted({a for a, b in edges if b == rule and a != rule}) for rule in rules}
    order, done = [], set()
    while len(order) < len(rules):
        ready = sorted(r for r in rules if r not in done and set(upstream[r]) <= done)
        if not ready:
            sys.exit(f"the rule graph has a cycle among {sorted(rules - done)}")
        order.append(ready[0])
        done.add(ready[0])
    lines = ["```mermaid", "flowchart TB"]
    for rule in order:
        sources = upstream[rule] + ([rule] if (rule, rule) in edges else [])
        if sources:
            lines.append(f"    {' & '.join(_node(s) for s in sources)} --> {_node(rule)}")
        elif not any(rule in edge for edge in edges):
            lines.append(f"    {_node(rule)}")
    lines.append("```")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    if BEGIN not in text or END not in text:
        sys.exit(f"{README.name}: the markers {BEGIN} and {END} are missing")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite README.md's block")
    mode.add_argument("--check", action="store_true", help="exit 1 when README.md's block differs from the workflow")
    args = parser.parse_args(argv)
    rules, edges = snakemake_rulegraph()
    text = README.read_text(encoding="utf-8")
    if args.write:
        head, rest = text.split(BEGIN, 1)
        README.write_text(f"{head}{BEGIN}\n{render(rules, edges)}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
        print(f"README.md: rule graph of {len(rules)} rules, {len(edges)} edges written")
        return 0
    shown_rules, shown_edges = parse(readme_block(text))
    problems = [f"rule {r} missing" for r in sorted(rules - shown_rules)]
    problems += [f"rule {r} no longer in the workflow" for r in sorted(shown_rules - rules)]
    problems += [f"edge {a} --> {b} missing" for a, b in sorted(edges - shown_edges)]
    problems += [f"edge {a} --> {b} no longer in the workflow" for a, b in sorted(shown_edges - edges)]
    if problems:
        print("README.md's rule graph does not match the workflow "
              "(python scripts/readme_rulegraph.py --write):\n  " + "\n  ".join(problems))
        return 1
    print(f"README.md's rule graph matches the workflow ({len(rules)} rules, {len(edges)} edges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The documentation stays true to the repository: README.md's rule graph matches the workflow, every
relative link of README.md, docs/ and config/README.md resolves (file and #anchor), and config/README.md
has a row for every top-level key of config/schema.yaml that names exactly the shipped configs setting it."""

import re
import subprocess
import sys
import unicodedata

import yaml
from conftest import REPO

DOCS = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# config/*.yaml files that are not run configs: the schema itself, and data a config names.
NOT_CONFIGS = {"schema.yaml", "paper_reference.yaml"}


def _without_fences(text: str) -> str:
    """The text without fenced code blocks (whose `# comment` lines are not headings)."""
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)


def _prose(text: str) -> str:
    """The text without code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def github_anchors(markdown: str) -> set[str]:
    """The #anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated heading numbered -1, -2, ..."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _without_fences(markdown), flags=re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
        slug = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_readme_is_short_and_in_the_newcomer_order():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 160
    sections = re.findall(r"^## (.+)$", _without_fences(text), flags=re.M)
    assert sections == ["Rule graph", "Setup", "Run", "Test", "Paper scale", "Documentation"], sections


def test_readme_rule_graph_matches_the_workflow():
    proc = subprocess.run([sys.executable, "scripts/readme_rulegraph.py", "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]


def test_every_relative_link_resolves():
    assert (REPO / "docs").is_dir() and len(DOCS) >= 8
    broken = []
    for page in DOCS:
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(REPO)}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in github_anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{where} (no heading #{anchor})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def _config_readme_rows() -> dict[str, set[str]]:
    """config/README.md's key table: key -> the configs its "set by" cell names."""
    text = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = set(re.findall(r"[\w.-]+\.yaml", cells[2]))
    return rows


def test_config_readme_describes_every_schema_key_and_who_sets_it():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    rows = _config_readme_rows()
    missing = [key for key in schema["properties"] if key not in rows]
    stale = [key for key in rows if key not in schema["properties"]]
    assert not missing, f"config/README.md has no row for schema keys {missing}"
    assert not stale, f"config/README.md describes keys the schema no longer has: {stale}"
    configs = {p.name: yaml.safe_load(p.read_text()) or {} for p in (REPO / "config").glob("*.yaml")
               if p.name not in NOT_CONFIGS}
    wrong = []
    for key, named in rows.items():
        setting = {name for name, config in configs.items() if key in config}
        if named != setting:
            wrong.append(f"{key}: README says {sorted(named)}, set by {sorted(setting)}")
    assert not wrong, "config/README.md's 'set by' column is out of date:\n" + "\n".join(wrong)


def test_workflow_catalog_settings_follow_the_standardized_usage_format():
    """.snakemake-workflow-catalog.yml as the catalog's "standardized usage" reads it: mandatory flags
    (a description and the flags, a string or a list) and which deployment methods and the report work."""
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    flags = usage["mandatory-flags"]
    assert isinstance(flags["desc"], str) and flags["desc"] and isinstance(flags["flags"], (str, list))
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "singularity", "singularity+conda", "report"}
    assert all(isinstance(v, bool) for v in deployment.values()) and deployment["report"] is True
    assert (REPO / "config" / "README.md").exists()

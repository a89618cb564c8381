"""The config a run of the workflow sees: config/config.yaml, each `--configfile` overlay merged over it
as Snakemake merges them, then validated against config/schema.yaml with its defaults filled in (as the
Snakefile does). For scripts and tests that reason about a config without running the workflow."""

from __future__ import annotations

from pathlib import Path

import yaml
from snakemake.utils import update_config, validate


def effective_config(repo: Path, *overlays: str | Path) -> dict:
    """config.yaml under `repo`, updated by each overlay (a path, relative to `repo` or absolute)."""
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    for overlay in overlays:
        update_config(config, yaml.safe_load((repo / overlay).read_text()))
    validate(config, str(repo / "config" / "schema.yaml"), set_default=True)
    return config

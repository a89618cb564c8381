"""A training run's effective spec: what the Snakefile hands the train rule, in one place for the tests."""

from __future__ import annotations

REQUIRED = ("kind", "learning_rate")


def sweep_runs(config: dict) -> dict[str, dict]:
    """Learning-rate sweep copies (paper section 4.6): run name -> the sweep point's own settings
    (a bare number in `lr_sweep.learning_rates` is {learning_rate: number})."""
    sweep = config.get("lr_sweep") or {}
    points = [p if isinstance(p, dict) else {"learning_rate": p} for p in sweep.get("learning_rates", [])]
    return {f"{sweep['run']}_lr{p['learning_rate']:g}": p for p in points}


def run_spec(config: dict, run: str) -> dict:
    """training_defaults updated by the run's own values (a sweep copy: its base run's, then the point's).

    An overlay config (paper.yaml over config.yaml) merges key by key, so a default the overlay does not
    set is the demo's: overlays that mean other values set every key (tests/test_paper_config.py)."""
    sweeps = sweep_runs(config)
    own = ({**config["training"][config["lr_sweep"]["run"]], **sweeps[run]} if run in sweeps
           else config["training"][run])
    spec = {**(config.get("training_defaults") or {}), **own}
    missing = [key for key in REQUIRED if key not in spec]
    if missing:
        raise ValueError(f"training run {run}: no {', '.join(missing)} in training.{run} or training_defaults")
    return spec


def sweep_sources(config: dict) -> dict[str, str]:
    """Sweep run -> the run whose checkpoint and scores stand for it: the sweep's own base run where the
    point's spec is that run's (the paper's 5e-8 point is S1 itself: training it again would cost a whole
    run to reproduce the same weights), else the sweep run itself."""
    base = (config.get("lr_sweep") or {}).get("run")
    return {run: base if run_spec(config, run) == run_spec(config, base) else run for run in sweep_runs(config)}

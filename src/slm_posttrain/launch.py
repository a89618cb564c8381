"""Multi-process training: the train rule hands a run to `accelerate launch` (DDP, FSDP or DeepSpeed,
as the accelerate config file says) when the config asks for more than one process or for such a file.

One process per job stays in-process (no launcher): that is the CPU demo and a single GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def wants_launcher(launch: dict | None) -> bool:
    launch = launch or {}
    return int(launch.get("num_processes", 1)) > 1 or bool(launch.get("accelerate_config"))


def launch_command(kind: str, start: str | Path, data: str | Path, out_dir: str | Path, work_dir: str | Path,
                   spec_file: str | Path, launch: dict) -> list[str]:
    """`accelerate launch [--config_file F] [--num_processes N] -m slm_posttrain.train_cli ...`."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if launch.get("accelerate_config"):
        path = Path(launch["accelerate_config"])
        if not path.is_file():
            raise FileNotFoundError(f"training_launch.accelerate_config: no such file {path}")
        cmd += ["--config_file", str(path)]
    if launch.get("num_processes"):
        cmd += ["--num_processes", str(int(launch["num_processes"]))]
    if launch.get("main_process_port"):
        cmd += ["--main_process_port", str(int(launch["main_process_port"]))]
    return cmd + ["-m", "slm_posttrain.train_cli", "--kind", kind, "--start", str(start), "--data", str(data),
                  "--out", str(out_dir), "--work", str(work_dir), "--spec", str(spec_file)]


def train_launched(kind: str, start, data, out_dir, work_dir, spec: dict, launch: dict, log_path=None) -> dict:
    """Run one training through accelerate launch; its output goes to log_path; returns the summary."""
    from .fingerprint import claim_work_dir, release_work_dir, training_inputs

    work_dir = Path(work_dir)
    # The parent claims the work folder once, before any rank starts (ranks run with manage_work_dir=False).
    message = claim_work_dir(work_dir, training_inputs(kind, start, data, spec, launch))
    spec_file = work_dir / "launch_spec.json"
    spec_file.write_text(json.dumps({"spec": spec, "launch": launch}, indent=2))
    cmd = launch_command(kind, start, data, out_dir, work_dir, spec_file, launch)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(message + "\nlaunch: " + " ".join(cmd) + "\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    else:
        proc = subprocess.run(cmd)
    if proc.returncode != 0:
        where = f"; see {log_path}" if log_path else ""
        raise RuntimeError(f"accelerate launch exited with {proc.returncode}{where}")
    release_work_dir(work_dir)
    return json.loads((Path(out_dir) / "training_summary.json").read_text())

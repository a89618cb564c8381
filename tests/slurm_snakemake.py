"""`python -m snakemake` for the one-node SLURM tests, with the SLURM plugin's status polling capped.

The plugin waits 10 s longer before each status check that finds no job finished (up to 3 min), which
suits a busy cluster. On a one-node test cluster whose jobs take seconds, that back-off is most of a
workflow's wall time: a job finishing 80 s in is seen ~30 s later, and every stage of a chain waits so.
Here the wait stays at most POLL_S seconds; submission, job scripts, status parsing and everything else
is the plugin as users run it."""

import sys

from snakemake.cli import main
from snakemake_executor_plugin_slurm import Executor

POLL_S = 3
_inherited = Executor.next_seconds_between_status_checks
Executor.next_seconds_between_status_checks = property(
    _inherited.fget, lambda self, seconds: _inherited.fset(self, min(seconds, POLL_S)))

if __name__ == "__main__":
    sys.exit(main())

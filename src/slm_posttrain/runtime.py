"""What every pipeline script does first: logging to the rule's log file, torch threads, seeds."""

from __future__ import annotations

import logging
import os
import random
import sys


def setup(smk, name: str) -> logging.Logger:
    """Log to the rule's log file and to stderr (tqdm progress stays on the terminal).

    The handlers sit on the package's logger, so the library modules' own loggers reach the rule's log too."""
    package = logging.getLogger("slm_posttrain")
    package.setLevel(logging.INFO)
    package.handlers.clear()
    logger = logging.getLogger(f"slm_posttrain.{name}")
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    handlers = [logging.StreamHandler(sys.stderr)]
    if getattr(smk, "log", None) and len(smk.log):
        os.makedirs(os.path.dirname(smk.log[0]) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(smk.log[0], mode="w", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        package.addHandler(handler)
    def log_uncaught(kind, value, tb):  # so the rule's log file says why the job failed
        logger.error("job failed", exc_info=(kind, value, tb))

    sys.excepthook = log_uncaught
    threads = int(getattr(smk, "threads", 1) or 1)
    seed = int(smk.config["seed"])
    random.seed(seed)
    try:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
    except ImportError:
        pass
    return logger


def log_stats(logger: logging.Logger, stats) -> None:
    d = stats.as_dict()
    logger.info("%s: in=%d out=%d dropped=%s", d["stage"], d["records_in"], d["records_out"], d["dropped"])

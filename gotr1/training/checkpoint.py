"""Checkpoint and resume: weights as safetensors, trainer state as tensors and plain values only.

Layout of ``<run>/checkpoints/step-000040/``: ``policy/`` (the policy's Hugging Face checkpoint, adapters
included), ``trainer_state.pt`` (optimizer, scheduler, torch RNG, step, data position; loaded with
``torch.load(weights_only=True)`` so nothing arbitrary is unpickled) and ``extra.json`` (numpy RNG and other
plain values). A checkpoint is written to a temporary folder and renamed, so a kill never leaves half of one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gotr1.models.janus import JanusPolicy

__all__ = ["Checkpoint", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]


@dataclass
class Checkpoint:
    step: int
    path: Path


def _step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:06d}"


def save_checkpoint(
    root: str | Path,
    step: int,
    policy: JanusPolicy,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Checkpoint:
    """Write a checkpoint atomically and keep only the newest ``keep``."""
    root = Path(root)
    final = _step_dir(root, step)
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save_pretrained(tmp / "policy")
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        },
        tmp / "trainer_state.pt",
    )
    (tmp / "extra.json").write_text(json.dumps({"numpy_rng": rng.bit_generator.state, **(extra or {})}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return Checkpoint(step, final)


def latest_checkpoint(root: str | Path) -> Checkpoint | None:
    """The newest complete checkpoint under ``root`` (temporary folders are ignored)."""
    dirs = sorted(Path(root).glob("step-*")) if Path(root).is_dir() else []
    for d in reversed(dirs):
        if (d / "trainer_state.pt").is_file() and (d / "extra.json").is_file():
            return Checkpoint(int(d.name.split("-")[1]), d)
    return None


def load_checkpoint(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Restore optimizer, scheduler and RNG states in place; returns ``extra.json`` (policy weights are loaded
    by the caller from ``checkpoint.path / "policy"`` before the optimizer is built)."""
    state = torch.load(checkpoint.path / "trainer_state.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    extra: dict[str, Any] = json.loads((checkpoint.path / "extra.json").read_text())
    rng.bit_generator.state = extra.pop("numpy_rng")
    return extra

"""Checkpoint and resume: weights as safetensors, trainer state as tensors and plain values only.

Layout of ``<run>/checkpoints/step-000040/``:

- ``policy/``: the policy's Hugging Face checkpoint (``model.safetensors``, LoRA adapters as
  ``adapter/adapter_model.safetensors``, config, tokenizer and codec JSON);
- ``trainer_state.pt``: optimizer, scheduler, torch (and CUDA) RNG states, step and data position, loadable with
  ``torch.load(weights_only=True)``: nothing in a checkpoint folder unpickles arbitrary objects;
- ``run.json``: what the run must agree with to resume (its config, the data size) in plain JSON.

A checkpoint is written to a temporary folder and renamed, so a kill never leaves half of one; the newest
``keep`` are kept.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gotr1.models.janus import JanusPolicy

__all__ = ["Checkpoint", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

_STATE, _RUN = "trainer_state.pt", "run.json"


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint folder and the optimizer step it was taken after."""

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
    identity: dict[str, Any],
    data_position: int,
    keep: int = 2,
) -> Checkpoint:
    """Write a checkpoint atomically and keep only the newest ``keep``.

    Args:
        root: the run's checkpoint folder.
        step: optimizer steps done.
        policy: saved with ``save_pretrained`` (adapters separately when it has LoRA).
        optimizer, scheduler: their ``state_dict()``.
        identity: JSON-able facts a resumed run must match (config, data size).
        data_position: batches consumed (the trainers' data order is a pure function of it).
    """
    root = Path(root)
    final = _step_dir(root, step)
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    policy.save_pretrained(tmp / "policy")
    state: dict[str, Any] = {
        "step": step,
        "data_position": data_position,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, tmp / _STATE)
    (tmp / _RUN).write_text(json.dumps(identity, indent=2, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return Checkpoint(step, final)


def latest_checkpoint(root: str | Path) -> Checkpoint | None:
    """The newest complete checkpoint under ``root`` (temporary folders of an interrupted save are ignored)."""
    dirs = sorted(Path(root).glob("step-*")) if Path(root).is_dir() else []
    for d in reversed(dirs):
        if (d / _STATE).is_file() and (d / _RUN).is_file():
            return Checkpoint(int(d.name.split("-")[1]), d)
    return None


def load_checkpoint(
    checkpoint: Checkpoint,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    expect: dict[str, Any],
) -> int:
    """Restore optimizer, scheduler and RNG states in place and return the step to continue from.

    The policy's weights are loaded by the caller from ``checkpoint.path / "policy"`` before the optimizer is
    built (:func:`gotr1.training.common.restore_policy`).

    Raises:
        ValueError: the checkpoint belongs to a different run (``expect`` differs from its ``run.json``); the
            differing keys are named.
    """
    saved = _flatten(json.loads((checkpoint.path / _RUN).read_text()))
    expected = _flatten(json.loads(json.dumps(expect)))
    if saved != expected:
        keys = sorted(
            k for k in {*saved, *expected} if saved.get(k, "<missing>") != expected.get(k, "<missing>")
        )
        raise ValueError(
            f"{checkpoint.path} belongs to a different run ({keys} differ); resume with the same config and "
            "data, or use a new output folder"
        )
    state = torch.load(checkpoint.path / _STATE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"config": {"lr": 1}}`` -> ``{"config.lr": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out

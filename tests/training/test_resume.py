"""Kill a training run with SIGKILL after a checkpoint and start it again: it resumes, ends at the same step
count with the same weights as an uninterrupted run, and no metric step is logged twice. Checkpoint folders
hold safetensors, JSON and a trainer state that loads with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, sft_examples
from gotr1.tracking import read_jsonl_metrics
from gotr1.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from gotr1.training.common import cosine_schedule, make_optimizer
from tests.training.resume_job import run

JOB = Path(__file__).with_name("resume_job.py")
STEPS = 16
SAFE_SUFFIXES = {".safetensors", ".json", ".jinja", ".txt", ".model"}


def _start(kind: str, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, str(JOB), kind, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _finish(job: subprocess.Popen[bytes]) -> None:
    assert job.wait(timeout=300) == 0, job.stderr.read().decode() if job.stderr else ""


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_sigkill_then_resume(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(kind, out)
    deadline = time.monotonic() + 300
    while not (out / "checkpoints" / "step-000008").is_dir():
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else "job ended early"
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    logged_before = [int(r["step"]) for r in read_jsonl_metrics(out / "metrics.jsonl")]
    assert logged_before and max(logged_before) < STEPS

    checkpoint = out / "checkpoints" / "step-000008"
    state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
    assert state["step"] == 8 and state["data_position"] == 8
    files = [p for p in checkpoint.rglob("*") if p.is_file()]
    assert {p.name for p in files if p.suffix not in SAFE_SUFFIXES} == {"trainer_state.pt"}

    _finish(_start(kind, out))
    steps = [int(r["step"]) for r in read_jsonl_metrics(out / "metrics.jsonl")]
    assert sorted(Counter(steps).items()) == [(s, 1) for s in range(1, STEPS + 1)]

    # The same run without the kill (in this process) ends with the same weights.
    torch.set_num_threads(1)
    run(kind, str(tmp_path / "straight"))
    resumed = load_file(out / "policy" / "model.safetensors")
    straight = load_file(tmp_path / "straight" / "policy" / "model.safetensors")
    assert resumed.keys() == straight.keys()
    assert all(torch.equal(resumed[k], straight[k]) for k in resumed)


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    config = EmbeddedConfig.smoke()
    examples = sft_examples(config)[:4]
    policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
    optimizer = make_optimizer(policy, 1e-3, 0.0)
    scheduler = cosine_schedule(optimizer, 0, 10)
    identity = {"kind": "sft", "config": {"learning_rate": 1e-3, "steps": 10}, "examples": 4}
    save_checkpoint(tmp_path, 3, policy, optimizer, scheduler, identity, data_position=3)
    checkpoint = latest_checkpoint(tmp_path)
    assert checkpoint is not None and checkpoint.step == 3
    assert load_checkpoint(checkpoint, optimizer, scheduler, identity) == 3
    other = {**identity, "config": {"learning_rate": 2e-3, "steps": 10}}
    with pytest.raises(ValueError, match=r"\['config.learning_rate'\] differ"):
        load_checkpoint(checkpoint, optimizer, scheduler, other)

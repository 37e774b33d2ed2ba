"""Kill a training run with SIGKILL after a checkpoint, start it again: it resumes, ends at the same step count,
and no metric step is logged twice. Trainer state loads with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from gotr1.tracking import read_jsonl_metrics

JOB = Path(__file__).with_name("resume_job.py")
STEPS = 16


def _start(out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, str(JOB), str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_sigkill_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(out)
    deadline = time.monotonic() + 240
    while not list((out / "checkpoints").glob("step-000008")):
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else "job ended early"
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    logged_before = [int(r["step"]) for r in read_jsonl_metrics(out / "metrics.jsonl")]
    assert logged_before and max(logged_before) < STEPS

    state = torch.load(out / "checkpoints" / "step-000008" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 8

    second = _start(out)
    assert second.wait(timeout=240) == 0, second.stderr.read().decode() if second.stderr else ""
    steps = [int(r["step"]) for r in read_jsonl_metrics(out / "metrics.jsonl")]
    assert max(steps) == STEPS
    assert sorted(Counter(steps).items()) == [(s, 1) for s in range(1, STEPS + 1)]
    assert (out / "policy" / "config.json").is_file()

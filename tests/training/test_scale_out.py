"""Scale-out: the DeepSpeed ZeRO-2/3 configs validate with DeepSpeed's own config class and accelerate's plugin,
the accelerate launch configs load with accelerate's own loader and point at them; the slow tier runs the real
SFT and GRPO trainers for a few steps under accelerate + DeepSpeed ZeRO-2 in one CPU process (gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("zero_job.py")


def _resolved(stage: int, micro_batch: int = 4, accumulation: int = 2) -> dict[str, object]:
    """The JSON config with accelerate's ``auto`` values filled as the trainers fill them."""
    raw = json.loads((ROOT / "infra" / "deepspeed" / f"zero{stage}.json").read_text())
    fill = {"train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": accumulation}
    return {k: fill.get(k, v) for k, v in raw.items()}


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_validate_with_deepspeeds_own_class(stage: int) -> None:
    from accelerate.utils import DeepSpeedPlugin
    from deepspeed.runtime.config import DeepSpeedConfig

    config = DeepSpeedConfig(_resolved(stage, micro_batch=4, accumulation=2))  # one process
    assert config.zero_optimization_stage == stage
    assert config.train_batch_size == 4 * 2
    assert config.bfloat16_config.enabled and config.gradient_clipping == 1.0
    plugin = DeepSpeedPlugin(hf_ds_config=str(ROOT / "infra" / "deepspeed" / f"zero{stage}.json"))
    assert plugin.zero_stage == stage


def test_deepspeed_config_with_a_wrong_key_type_is_rejected() -> None:
    from deepspeed.runtime.config import DeepSpeedConfig

    bad = {**_resolved(2), "zero_optimization": {"stage": "two"}}
    with pytest.raises(Exception, match="stage"):
        DeepSpeedConfig(bad)


@pytest.mark.parametrize("stage", [2, 3])
def test_accelerate_configs_load_and_point_at_the_deepspeed_files(stage: int) -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    config = load_config_from_file(str(ROOT / "infra" / "accelerate" / f"zero{stage}.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED
    assert config.mixed_precision == "bf16" and config.num_processes == 8
    ds_file = ROOT / config.deepspeed_config["deepspeed_config_file"]
    assert json.loads(ds_file.read_text())["zero_optimization"]["stage"] == stage


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_trainer_steps_under_accelerate_and_deepspeed_zero2(kind: str, tmp_path: Path) -> None:
    # A process of its own: DeepSpeed initialises torch.distributed once per process. The first run compiles
    # a DeepSpeed extension on the CPU (about a minute on 2 cores), cached afterwards.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "LOCAL_WORLD_SIZE": "1",
    }
    job = subprocess.run(
        [sys.executable, str(JOB), kind, str(tmp_path)], env=env, capture_output=True, text=True, timeout=900
    )
    assert job.returncode == 0, job.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["distributed_type"] == "DEEPSPEED" and report["zero_stage"] == 2
    assert report["steps_logged"] == [1, 2, 3]
    assert report["changed_parameters"] > 0

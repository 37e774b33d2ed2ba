"""The command-line launcher runs SFT, then GRPO from the SFT checkpoint, from one YAML run config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gotr1.tracking import read_jsonl_metrics
from gotr1.training.launch import main

RUN = {
    "world": {"grid_size": 4, "classes": ["dog", "cat", "cup"], "colors": ["red", "blue"]},
    "model": {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64},
    "sft": {"steps": 3, "batch_size": 8, "warmup_steps": 1, "log_every": 1},
    "grpo": {"steps": 2, "prompts_per_step": 2, "group_size": 2, "max_chain_tokens": 8, "cfg_scale": 1.0},
    "sft_examples": 32,
    "rl_prompts": 8,
}


def test_launch_sft_then_grpo(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(RUN))
    main(["sft", "--config", str(config), "--output", str(tmp_path / "run"), "--no-accelerate"])
    policy = tmp_path / "run" / "sft" / "policy"
    assert (policy / "model.safetensors").is_file()
    main(["grpo", "--config", str(config), "--output", str(tmp_path / "run"), "--policy", str(policy)])
    rows = read_jsonl_metrics(tmp_path / "run" / "grpo" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]


def test_launch_rejects_a_missing_config_and_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["sft", "--config", str(tmp_path / "nope.yaml"), "--output", str(tmp_path)])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"grpo": {"group_sise": 4}}))
    with pytest.raises(ValueError, match="group_sise"):
        main(["grpo", "--config", str(bad), "--output", str(tmp_path), "--no-accelerate"])

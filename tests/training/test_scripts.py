"""The measurement scripts end to end on the smoke world. scripts/learning_evidence.py: SFT -> evaluate -> GRPO ->
evaluate for a seed, its table and results, GRPO again from the same SFT checkpoint (--reuse-sft), the planner
family. scripts/image_cell_probe.py: SFT, then the image head's object cells counted by kind. And `make learn`
measures what `make run` trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SMOKE = yaml.safe_load((ROOT / "pipelines" / "configs" / "smoke.yaml").read_text())["parameters"]["config"]
METRICS = {"reward/total", "plan_accuracy", "image_accuracy", "parse_failure_rate"}


def _run(tmp: Path, name: str, config: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    (tmp / f"{name}.yaml").write_text(yaml.safe_dump(config))
    output = tmp / name
    command = [
        sys.executable,
        "scripts/learning_evidence.py",
        "--config",
        str(tmp / f"{name}.yaml"),
        "--output",
        str(output),
        "--seeds",
        "0",
        "--samples-per-prompt",
        "1",
        "--threads",
        "1",
        *extra,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| mean | reward/total |" in (output / "table.md").read_text()
    results: list[dict[str, Any]] = json.loads((output / "results.json").read_text())
    return results


def test_sft_then_grpo_then_grpo_again_from_the_same_sft(tmp_path: Path) -> None:
    [first] = _run(tmp_path, "first", SMOKE)
    assert set(first["sft"]) >= METRICS and set(first["grpo"]) >= METRICS and first["policy"] == "tiny"
    sft_policy = tmp_path / "first" / "seed-0" / "sft" / "policy"
    assert first["policies"]["sft"] == str(sft_policy)

    [again] = _run(tmp_path, "again", SMOKE, "--reuse-sft", str(tmp_path / "first"))
    assert again["sft_reused"] == str(sft_policy)
    assert not (tmp_path / "again" / "seed-0" / "sft").exists()  # no SFT was trained
    assert again["sft"] == first["sft"]  # the same checkpoint, the same evaluation seed


def test_the_planner_family(tmp_path: Path) -> None:
    [result] = _run(tmp_path, "planner", {**SMOKE, "policy": {"kind": "planner"}})
    assert result["policy"] == "planner" and set(result["grpo"]) >= METRICS
    assert (tmp_path / "planner" / "seed-0" / "sft" / "policy" / "planner.json").is_file()


def test_image_cell_probe_counts_every_object_cell_once(tmp_path: Path) -> None:
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(SMOKE))
    command = [sys.executable, "scripts/image_cell_probe.py", "--config", str(tmp_path / "smoke.yaml")]
    command += ["--output", str(tmp_path / "probe"), "--scenes", "16"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    kinds = [v for k, v in result.items() if k.startswith("object_cells/")]
    assert len(kinds) == 6 and sum(kinds) == pytest.approx(1.0)
    assert (
        result["classes"] == len(SMOKE["world"]["classes"]) and result["sft_steps"] == SMOKE["sft"]["steps"]
    )
    assert 0.0 <= result["class_word_accuracy"] <= 1.0
    assert (tmp_path / "probe" / "sft" / "policy" / "config.json").is_file()


def test_make_learn_measures_the_embedded_default() -> None:
    """`make learn`'s settings are the pipeline's embedded default (the README's learning table describes
    `make run`), except how often checkpoints are written."""
    pipeline = yaml.safe_load((ROOT / "pipelines" / "configs" / "embedded.yaml").read_text())["parameters"][
        "config"
    ]
    script = yaml.safe_load((ROOT / "scripts" / "embedded_learning.yaml").read_text())

    def training(config: dict[str, Any]) -> dict[str, Any]:
        return {
            key: {k: v for k, v in value.items() if k != "checkpoint_every"}
            if isinstance(value, dict)
            else value
            for key, value in config.items()
            if key != "seed"
        }

    assert training(script) == training(pipeline)

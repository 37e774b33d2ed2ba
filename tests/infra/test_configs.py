"""Offline checks of the cluster path: DeepSpeed configs validate, Dockerfiles copy files that exist, and every
pipeline config loads onto the embedded config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_validate_with_deepspeeds_own_class(stage: int) -> None:
    from accelerate.utils import DeepSpeedPlugin
    from deepspeed.runtime.config import DeepSpeedConfig

    path = ROOT / "infra" / "deepspeed" / f"zero{stage}.json"
    raw = json.loads(path.read_text())
    resolved = {k: (1 if v == "auto" else v) for k, v in raw.items()}
    resolved["train_batch_size"] = 1
    config = DeepSpeedConfig(resolved)
    assert config.zero_optimization_stage == stage
    plugin = DeepSpeedPlugin(hf_ds_config=str(path))
    assert plugin.zero_stage == stage


@pytest.mark.parametrize("name", ["zero2.yaml", "zero3.yaml"])
def test_accelerate_configs_point_at_existing_deepspeed_files(name: str) -> None:
    doc = yaml.safe_load((ROOT / "infra" / "accelerate" / name).read_text())
    assert doc["distributed_type"] == "DEEPSPEED"
    assert (ROOT / doc["deepspeed_config"]["deepspeed_config_file"]).is_file()


@pytest.mark.parametrize(
    "dockerfile", sorted((ROOT / "dockerfiles").glob("*.Dockerfile")), ids=lambda p: p.name
)
def test_dockerfiles_copy_only_files_that_exist(dockerfile: Path) -> None:
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for source in re.split(r"\s+", line)[1:-1]:
                assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"


@pytest.mark.parametrize(
    "config", sorted((ROOT / "pipelines" / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_pipeline_configs_load_onto_the_embedded_config(config: Path) -> None:
    from gotr1.embedded import EmbeddedConfig

    doc = yaml.safe_load(config.read_text())
    EmbeddedConfig.from_dict(doc["parameters"]["config"])


def test_unknown_config_keys_are_rejected_with_their_names() -> None:
    from gotr1.embedded import EmbeddedConfig

    with pytest.raises(ValueError, match="lerning_rate"):
        EmbeddedConfig.from_dict({"sft": {"lerning_rate": 1.0}})


@pytest.mark.parametrize("name", ["janus_pro_1b_kubeflow.yaml", "janus_pro_7b_kubeflow.yaml"])
def test_cluster_configs_resolve_every_setting(name: str) -> None:
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    from gotr1.backends import JudgeSpec, PolicySpec
    from gotr1.training.config import GRPOConfig

    doc = yaml.safe_load((ROOT / "pipelines" / "configs" / name).read_text())
    run_config = PipelineRunConfiguration.model_validate(doc)
    assert run_config.schedule is not None and run_config.schedule.cron_expression
    step = run_config.steps["train_grpo"]
    assert step.settings["resources"].model_dump()["gpu_count"] == 8
    assert step.settings["orchestrator.kubeflow"].model_dump()["node_selectors"]["accelerator"]
    params = doc["parameters"]["config"]
    assert PolicySpec.from_dict(params["policy"]).kind == "janus_pro"
    assert JudgeSpec.from_dict(params["judge"]).kind == "http"
    grpo = GRPOConfig(**params["grpo"])
    assert (grpo.group_size, grpo.learning_rate, grpo.lora_rank, grpo.cfg_scale) == (16, 1e-5, 32, 5.0)


def test_judge_manifest_serves_what_the_http_backend_expects() -> None:
    docs = list(yaml.safe_load_all((ROOT / "infra" / "judge" / "vllm-qwen2.5-vl.yaml").read_text()))
    deployment, service = docs
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--served-model-name=qwen2.5-vl-7b" in args and "--port=8000" in args
    assert service["spec"]["ports"][0]["port"] == 8000
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["name"] == "gotr1-judge"

"""Offline checks of the cluster path: Dockerfiles copy files that exist, every pipeline config loads onto the
embedded config, cluster configs resolve. (DeepSpeed and accelerate configs: tests/training/test_scale_out.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


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
    from gotr1.backends import JudgeSpec, PolicySpec
    from gotr1.embedded import EmbeddedConfig

    params = yaml.safe_load(config.read_text())["parameters"]["config"]
    EmbeddedConfig.from_dict(params)
    PolicySpec.from_dict(params.get("policy"))
    JudgeSpec.from_dict(params.get("judge"))


def test_a_cluster_config_that_fine_tunes_gives_every_training_step_gpus() -> None:
    """With GoT records a pretrained policy is fine-tuned by SFT first (pipelines._data.runs_sft), so train_sft
    needs the same 8 GPUs and work volume as train_grpo."""
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    from gotr1.backends import PolicySpec
    from gotr1.embedded import EmbeddedConfig

    doc = yaml.safe_load(
        (ROOT / "pipelines" / "configs" / "janus_pro_7b_sft_grpo_kubernetes.yaml").read_text()
    )
    params = doc["parameters"]
    assert params["got_records"] and not PolicySpec.from_dict(params["config"]["policy"]).trained_from_scratch
    run_config = PipelineRunConfiguration.model_validate(doc)
    for step in ("train_sft", "train_grpo"):
        raw = run_config.steps[step].settings["orchestrator.kubernetes"].model_dump()
        pod = KubernetesOrchestratorSettings.model_validate(raw).pod_settings
        assert pod is not None and pod.resources["limits"]["nvidia.com/gpu"] == "8"
        assert doc["steps"][step]["parameters"]["launch"]["num_processes"] == 8
    sft = EmbeddedConfig.from_dict(params["config"]).sft
    assert (sft.steps, sft.lora_rank, sft.lora_alpha) == (70_000, 32, 32)  # GoT-R1 section 5
    assert sft.batch_size * sft.grad_accumulation * 8 == 128


def test_unknown_config_keys_are_rejected_with_their_names() -> None:
    from gotr1.embedded import EmbeddedConfig

    with pytest.raises(ValueError, match="lerning_rate"):
        EmbeddedConfig.from_dict({"sft": {"lerning_rate": 1.0}})


@pytest.mark.parametrize(
    "name", ["janus_pro_1b_kubeflow.yaml", "janus_pro_7b_kubeflow.yaml", "training_kubeflow.yaml"]
)
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


@pytest.mark.parametrize("name", ["training_kubernetes.yaml", "janus_pro_1b_kubernetes.yaml"])
def test_kubernetes_config_puts_gpus_and_the_work_volume_in_pod_settings(name: str) -> None:
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    from gotr1.backends import JudgeSpec, PolicySpec
    from gotr1.training.config import GRPOConfig

    doc = yaml.safe_load((ROOT / "pipelines" / "configs" / name).read_text())
    params = doc["parameters"]["config"]
    assert PolicySpec.from_dict(params["policy"]).kind == "janus_pro"
    assert JudgeSpec.from_dict(params["judge"]).kind == "http"
    grpo = GRPOConfig(**params["grpo"])
    assert (grpo.group_size, grpo.learning_rate, grpo.lora_rank, grpo.cfg_scale) == (16, 1e-5, 32, 5.0)
    run_config = PipelineRunConfiguration.model_validate(doc)
    assert run_config.schedule is not None and run_config.schedule.cron_expression == "0 2 * * 0"
    claim = yaml.safe_load((ROOT / "infra" / "k8s" / "work-volume.yaml").read_text())["metadata"]["name"]
    for step, gpus in (("train_grpo", "8"), ("evaluate", "1")):
        raw = run_config.steps[step].settings["orchestrator.kubernetes"].model_dump()
        pod = KubernetesOrchestratorSettings.model_validate(raw).pod_settings
        assert pod is not None and pod.resources["limits"]["nvidia.com/gpu"] == gpus
        assert pod.node_selectors == {"accelerator": "nvidia-h100"}
        assert pod.volumes[0]["persistentVolumeClaim"]["claimName"] == claim
    launch = doc["steps"]["train_grpo"]["parameters"]["launch"]
    assert (ROOT / launch["config_file"]).is_file() and launch["num_processes"] == 8


def test_smoke_configs_of_every_pipeline_share_one_config_block() -> None:
    configs = ROOT / "pipelines" / "configs"
    smoke = yaml.safe_load((configs / "smoke.yaml").read_text())["parameters"]["config"]
    others = sorted(configs.glob("*_smoke.yaml"))
    assert len(others) == 4
    for path in others:
        assert yaml.safe_load(path.read_text())["parameters"]["config"] == smoke, path.name


def test_judge_manifest_serves_what_the_http_backend_expects() -> None:
    docs = list(yaml.safe_load_all((ROOT / "infra" / "judge" / "vllm-qwen2.5-vl.yaml").read_text()))
    deployment, service = docs
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--served-model-name=qwen2.5-vl-7b" in args and "--port=8000" in args
    assert service["spec"]["ports"][0]["port"] == 8000
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["name"] == "gotr1-judge"

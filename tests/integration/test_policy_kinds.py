"""The pipelines with the other policy kinds, on a temporary ZenML store: the planner + world painter through the
whole training loop, and SFT of a (tiny) Janus-Pro on GoT records whose images are PNG files in S3 (moto's server
on loopback), VQ-encoded by the policy."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.s3 import loopback_s3
from tests.helpers.zenml_store import fresh_zenml_store, run_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("policy-kinds")
    with fresh_zenml_store(root):
        yield root


def test_the_planner_goes_through_the_whole_training_loop(store: Path) -> None:
    from zenml.enums import ExecutionStatus

    from gotr1.backends import load_trained_policy
    from gotr1.models.executors import WorldPainter
    from gotr1.models.planner import PlannerPolicy
    from pipelines import training_pipeline

    run = run_pipeline(training_pipeline, store, "planner", policy={"kind": "planner"}, minimums={})
    assert run.status == ExecutionStatus.COMPLETED
    sft = load_trained_policy(run.steps["train_sft"].outputs["sft_checkpoint"][0].load())
    grpo = load_trained_policy(run.steps["train_grpo"].outputs["grpo_checkpoint"][0].load())
    assert isinstance(sft, PlannerPolicy) and isinstance(grpo, PlannerPolicy)
    assert isinstance(grpo.executor, WorldPainter)
    sft_metadata = run.steps["train_sft"].run_metadata
    assert (
        "sft/chain_loss" in sft_metadata and "sft/image_loss" not in sft_metadata
    )  # the executor is not trained
    metrics = run.steps["evaluate"].outputs["evaluation_metrics"][0].load()
    assert {"reward/total", "plan_accuracy", "image_accuracy"} <= set(metrics)
    assert run.steps["register"].status == ExecutionStatus.COMPLETED


def test_janus_pro_sft_on_got_records_with_image_files_in_s3(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from PIL import Image
    from zenml.enums import ExecutionStatus

    from gotr1.backends import load_trained_policy
    from gotr1.models.janus import JanusPolicy
    from gotr1.models.janus_pro import JanusVQCodec
    from pipelines import sft_pipeline
    from tests.helpers.janus_pro import tiny_janus_pro
    from tests.models.test_janus_pro_sft import CHAINS, PROMPTS, _words

    janus_pro = tiny_janus_pro(tmp_path / "janus-pro", words=_words(*CHAINS, *PROMPTS))
    with loopback_s3(monkeypatch) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="got")
        lines = []
        for i, colour in enumerate([(255, 0, 0), (0, 0, 255), (0, 200, 0), (250, 250, 0)]):
            buffer = io.BytesIO()
            Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
            s3.put_object(Bucket="got", Key=f"images/{i}.png", Body=buffer.getvalue())
            record = {"prompt": PROMPTS[i % 2], "chain": CHAINS[i % 2], "image": f"s3://got/images/{i}.png"}
            lines.append(json.dumps({"id": f"got-{i}", **record}))
        s3.put_object(Bucket="got", Key="got.jsonl", Body="\n".join(lines).encode())
        policy = {"kind": "janus_pro", "path": str(janus_pro), "lora_rank": 0, "dtype": "float32"}
        records = ["s3://got/got.jsonl"]
        run = run_pipeline(
            sft_pipeline, store, "janus-pro-sft", "sft_smoke.yaml", policy, got_records=records
        )

    assert run.status == ExecutionStatus.COMPLETED
    records = run.steps["curate_data"].outputs["train_records"][0].load()
    # no synthetic-world records for Janus-Pro; of the records sharing a prompt, the first is kept
    assert sorted(records["id"]) == ["got-0", "got-1"]
    trained = load_trained_policy(run.steps["train_sft"].outputs["sft_checkpoint"][0].load())
    assert isinstance(trained, JanusPolicy) and isinstance(trained.codec, JanusVQCodec)
    assert run.steps["train_sft"].run_metadata["sft_steps"] == 4


def test_a_pretrained_policy_without_got_records_gets_no_synthetic_records(store: Path) -> None:
    """Janus-Pro draws real images: the world's grid records are not its training data, and with no GoT records
    the data stage hands GRPO its prompts and an empty record set (training_pipeline then skips SFT)."""
    from zenml.enums import ExecutionStatus

    from pipelines import data_pipeline
    from pipelines._data import runs_sft

    policy = {"kind": "janus_pro", "path": "deepseek-community/Janus-Pro-1B"}
    run = run_pipeline(data_pipeline, store, "janus-pro-data", "data_smoke.yaml", policy)
    assert run.status == ExecutionStatus.COMPLETED
    assert run.steps["curate_data"].outputs["train_records"][0].load().empty
    assert not run.steps["curate_data"].outputs["train_rl_prompts"][0].load().empty
    assert not runs_sft({"policy": policy}, None) and runs_sft({"policy": policy}, ["s3://got/got.jsonl"])

"""The real pipelines on the local "full" stack of a temporary ZenML store: artifacts in S3 (moto's server on
loopback), MLflow tracking and registry on SQLite. Train, reuse the cache, fail the gate, promote, roll back, and
stop on bad data before training."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.s3 import loopback_s3
from tests.helpers.zenml_store import fresh_zenml_store, run_pipeline

pytestmark = pytest.mark.integration

BUCKET = "gotr1-it"


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ZenML store whose active stack is ``gotr1-local-full`` (infra/stacks/register.py)."""
    from infra.stacks.register import register_local_full

    root = tmp_path_factory.mktemp("full-stack")
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_S3_ENDPOINT_URL", "unset")  # restored afterwards: register_local_full sets it
    with loopback_s3(patch) as endpoint, fresh_zenml_store(root):
        assert register_local_full(endpoint, BUCKET, os.environ["MLFLOW_TRACKING_URI"]) == "gotr1-local-full"
        yield root
    patch.undo()


def test_training_pipeline_on_the_full_stack_with_cache_gate_promotion_and_rollback(full_stack: Path) -> None:
    import mlflow
    from zenml.client import Client
    from zenml.enums import ExecutionStatus, ModelStages

    from pipelines import training_pipeline
    from pipelines.promote import list_versions, promote, rollback

    assert Client().active_stack.name == "gotr1-local-full"
    first = run_pipeline(training_pipeline, full_stack, "first")
    assert first.status == ExecutionStatus.COMPLETED
    checkpoint = first.steps["train_grpo"].outputs["grpo_checkpoint"][0]
    assert checkpoint.uri.startswith(f"s3://{BUCKET}/zenml/"), checkpoint.uri  # artifacts went to S3
    metrics = first.steps["evaluate"].outputs["evaluation_metrics"][0].load()
    assert {"reward/total", "plan_accuracy", "image_accuracy", "geneval/image/overall"} <= set(metrics)
    assert "PASSED" in first.steps["validate_data"].outputs["validation_report"][0].load()
    assert "<img" in first.steps["evaluate"].outputs["evaluation_report"][0].load()
    assert "<img" in first.steps["train_grpo"].outputs["reward_curves"][0].load()
    records = first.steps["curate_data"].outputs["train_records"][0]
    assert records.run_metadata["rows"] > 0  # the dataset carries its statistics
    v1 = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert v1.run_metadata["gate_passed"] is True
    assert v1.run_metadata["data_version"]["id"] == str(records.id)
    assert v1.run_metadata["metrics"]["samples"] == metrics["samples"]
    assert len(v1.run_metadata["code_version"]["commit"]) >= 7
    assert "# gotr1" in first.steps["register"].outputs["model_card"][0].load()

    # The trainers logged to the stack's MLflow; the registry mirror's files are in S3 too.
    client = mlflow.MlflowClient()
    train_runs = client.search_runs([client.get_experiment_by_name("gotr1").experiment_id])
    assert {"sft", "grpo"} <= {r.info.run_name.split("-")[0] for r in train_runs}
    champion = client.get_model_version_by_alias("gotr1", "champion")
    assert str(champion.version) == str(v1.run_metadata["mlflow_version"])
    assert client.get_run(champion.run_id).info.artifact_uri.startswith(f"s3://{BUCKET}/mlflow/")

    # Same config again: the data and SFT steps come from the cache, the sources are looked at again.
    second = run_pipeline(training_pipeline, full_stack, "second")
    statuses = {name: step.status for name, step in second.steps.items()}
    assert statuses["load_sources"] == statuses["train_sft"] == ExecutionStatus.CACHED, statuses
    assert statuses["fingerprint_sources"] == statuses["gate"] == ExecutionStatus.COMPLETED, statuses

    # An unreachable minimum: the run completes, the gate fails, production does not move.
    failed = run_pipeline(training_pipeline, full_stack, "failed", minimums={"reward/total": 99.0})
    decision = failed.steps["gate"].outputs["gate_decision"][0].load()
    assert decision["passed"] is False and "below the minimum" in decision["reasons"][0]
    production = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert production.number == _version(second).number
    assert _version(failed).stage != ModelStages.PRODUCTION
    challenger = client.get_model_version_by_alias("gotr1", "challenger")
    assert str(challenger.version) == str(_version(failed).run_metadata["mlflow_version"])

    # Promotion and rollback: exactly one production version at any time, MLflow's champion follows.
    promote(_version(failed).number)
    assert Client().get_model_version("gotr1", ModelStages.PRODUCTION).number == _version(failed).number
    rollback()  # back to the version that was production before
    production = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert production.number == _version(second).number
    listed = list_versions()
    assert [v["stage"] for v in listed].count("production") == 1
    champion = client.get_model_version_by_alias("gotr1", "champion")
    assert str(champion.version) == str(production.run_metadata["mlflow_version"])


def test_bad_data_stops_the_run_before_training_with_a_readable_report(full_stack: Path) -> None:
    from zenml.client import Client

    from pipelines import training_pipeline

    versions_before = len(Client().list_model_versions("gotr1", size=100).items) if _has_model() else 0
    bad = full_stack / "bad.jsonl"
    bad.write_text(
        json.dumps(
            {
                "prompt": "a photo of a dog",
                "chain": "<|obj_start|>dog<|obj_end|> <|box_start|>(1,2),(3,1000)<|box_end|><begin_of_image>",
                "image_tokens": [0] * 16,
            }
        )
        + "\n"
    )
    with pytest.raises(RuntimeError, match="validate_data"):
        run_pipeline(training_pipeline, full_stack, "bad", got_records=[str(bad)])
    run = Client().get_pipeline("training_pipeline").last_run
    assert run.steps["validate_data"].status.value == "failed"
    assert "train_sft" not in run.steps and "register" not in run.steps
    report = Client().get_artifact_version("validation_report").load()  # saved before the step failed
    assert "FAILED" in report and "chain_parses" in report and "bad.jsonl" in report
    versions_after = len(Client().list_model_versions("gotr1", size=100).items) if _has_model() else 0
    assert versions_after == versions_before  # nothing half-made is registered


def _version(run: Any) -> Any:
    """The model version a training run registered (the register step carries the model)."""
    from zenml.client import Client

    return Client().get_model_version("gotr1", run.steps["register"].model_version.id)


def _has_model() -> bool:
    from zenml.client import Client

    try:
        Client().get_model("gotr1")
    except KeyError:
        return False
    return True

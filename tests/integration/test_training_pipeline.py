"""The real pipelines on a temporary ZenML store: train, cache, gate, promote, roll back, stop on bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"


def _smoke(**parameters: object) -> dict[str, object]:
    import yaml

    doc = yaml.safe_load((CONFIGS / "smoke.yaml").read_text())
    doc["parameters"].update(parameters)
    return doc


def _run(pipeline, zenml_store: Path, name: str, **parameters: object):  # type: ignore[no-untyped-def]
    import yaml

    path = zenml_store / f"{name}.yaml"
    path.write_text(yaml.safe_dump(_smoke(**parameters)))
    run = pipeline.with_options(config_path=str(path))()
    from zenml.client import Client

    return Client().get_pipeline_run(run.id)


def test_training_pipeline_end_to_end_with_cache_gate_promotion_and_rollback(zenml_store: Path) -> None:
    import mlflow
    from zenml.client import Client
    from zenml.enums import ExecutionStatus, ModelStages

    from pipelines import training_pipeline
    from pipelines.promote import promote, rollback

    first = _run(training_pipeline, zenml_store, "first")
    assert first.status == ExecutionStatus.COMPLETED
    metrics = first.steps["evaluate"].outputs["evaluation_metrics"][0].load()
    assert {"reward/total", "plan_accuracy", "image_accuracy", "geneval/image/overall"} <= set(metrics)
    report = first.steps["curate_data"].outputs["validation_report"][0].load()
    assert "PASSED" in report
    assert "<img" in first.steps["evaluate"].outputs["evaluation_report"][0].load()
    v1 = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert v1.run_metadata["gate_passed"] is True
    assert json.loads(v1.run_metadata["evaluation"])["samples"] == metrics["samples"]

    # Same config again: data and SFT come from the cache.
    second = _run(training_pipeline, zenml_store, "second")
    assert second.steps["load_data"].status == ExecutionStatus.CACHED
    assert second.steps["train_sft"].status == ExecutionStatus.CACHED

    # An unreachable threshold: the run completes, the gate fails, production does not move.
    failed = _run(training_pipeline, zenml_store, "failed", thresholds={"reward/total": 99.0})
    decision = failed.steps["gate"].outputs["gate_decision"][0].load()
    assert decision["passed"] is False and "below the threshold" in decision["reasons"][0]
    production = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert production.number == second.model_version.number
    assert failed.model_version.stage != ModelStages.PRODUCTION

    # MLflow mirrors the registry: champion = production, challenger = the unpromoted one.
    client = mlflow.MlflowClient()
    champion = client.get_model_version_by_alias("gotr1", "champion")
    assert str(champion.version) == str(production.run_metadata["mlflow_version"])
    assert str(client.get_model_version_by_alias("gotr1", "challenger").version) == str(
        failed.model_version.run_metadata["mlflow_version"]
    )

    # Promotion and rollback: exactly one production version at any time, MLflow's champion follows.
    promote(failed.model_version.number)
    assert Client().get_model_version("gotr1", ModelStages.PRODUCTION).number == failed.model_version.number
    rollback()  # back to the newest earlier version that passed its gate
    production = Client().get_model_version("gotr1", ModelStages.PRODUCTION)
    assert production.number == second.model_version.number
    stages = [v.stage for v in Client().list_model_versions("gotr1", size=100).items]
    assert stages.count(ModelStages.PRODUCTION) == 1
    champion = client.get_model_version_by_alias("gotr1", "champion")
    assert str(champion.version) == str(production.run_metadata["mlflow_version"])


def test_bad_data_stops_the_run_before_training(zenml_store: Path) -> None:
    from zenml.client import Client

    from pipelines import training_pipeline

    bad = zenml_store / "bad.jsonl"
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
    with pytest.raises(RuntimeError, match="check_data"):
        _run(training_pipeline, zenml_store, "bad", got_records=[str(bad)])
    run = Client().get_pipeline("training_pipeline").last_run
    report = run.steps["curate_data"].outputs["validation_report"][0].load()
    assert "FAILED" in report and "chain_parses" in report
    assert "train_sft" not in run.steps or run.steps["train_sft"].status.value != "completed"

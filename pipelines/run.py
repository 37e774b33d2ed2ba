"""`make run`: the full training pipeline on the embedded default, with all state under ./.gotr1.

Sets up a fresh local ZenML store (``.gotr1/zenml``), MLflow on SQLite (``.gotr1/mlflow.db``) and the trainers'
work folder, runs ``training_pipeline`` with ``pipelines/configs/embedded.yaml`` (or ``--config``), and prints
what was trained, its metrics, the gate's decision, the registered version and where to look.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"


def local_environment(root: Path) -> None:
    """Point ZenML, MLflow and the trainers at folders under ``root`` (before zenml is imported)."""
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ZENML_CONFIG_PATH", str(root / "zenml"))
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{root.resolve() / 'mlflow.db'}")
    os.environ.setdefault("GOTR1_WORK_DIR", str(root / "work"))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=CONFIGS / "embedded.yaml")
    parser.add_argument("--root", type=Path, default=Path(".gotr1"))
    args = parser.parse_args()
    local_environment(args.root)

    import torch
    from zenml.client import Client

    from pipelines.training_pipeline import training_pipeline

    torch.set_num_threads(os.cpu_count() or 1)
    if not (Path.cwd() / ".zen").exists():
        Client.initialize(Path.cwd())
    start = time.perf_counter()
    run = training_pipeline.with_options(config_path=str(args.config))()
    minutes = (time.perf_counter() - start) / 60
    summarise(run, minutes, args.root)


def summarise(run, minutes: float, root: Path) -> None:  # type: ignore[no-untyped-def]
    from zenml.client import Client

    from gotr1.evaluation.rollouts import HEADLINE_METRICS

    run = Client().get_pipeline_run(run.id)
    metrics = run.steps["evaluate"].outputs["evaluation_metrics"][0].load()
    decision = run.steps["gate"].outputs["gate_decision"][0].load()
    version = run.model_version
    print("\n" + "=" * 78)
    print(f"trained: tiny Janus (synthetic world) SFT -> GRPO in {minutes:.1f} min, pipeline run {run.name}")
    print("held-out metrics (GRPO model):")
    for key in HEADLINE_METRICS:
        print(f"  {key:16s} {metrics[key]:.3f}")
    print(
        f"gate: {'PASSED' if decision['passed'] else 'FAILED'}"
        + ("" if decision["passed"] else f" ({'; '.join(decision['reasons'])})")
    )
    stage = version.stage if version else None
    print(
        f"registered: model 'gotr1' version {version.number if version else '?'} (stage: {stage or 'none, not promoted'})"
    )
    print("look at it:")
    print(f"  ZenML dashboard: ZENML_CONFIG_PATH={root / 'zenml'} .venv/bin/zenml login --local")
    print(f"  MLflow UI:       .venv/bin/mlflow ui --backend-store-uri {os.environ['MLFLOW_TRACKING_URI']}")
    print("=" * 78)


if __name__ == "__main__":
    main()

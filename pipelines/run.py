"""`make run`: the whole training pipeline on the embedded default, with every bit of state under ./.gotr1.

    python -m pipelines.run                     # pipelines/configs/embedded.yaml
    python -m pipelines.run --config pipelines/configs/smoke.yaml

:func:`run_embedded_default` points ZenML at a local store (``.gotr1/zenml``), registers and activates the
``gotr1-local`` stack (local orchestrator and artifact store, MLflow experiment tracker and model registry on
``.gotr1/mlflow.db``, MLflow artifacts in ``.gotr1/mlartifacts``), runs ``training_pipeline`` (data -> SFT ->
GRPO -> evaluate -> gate -> register) and prints what was trained, its held-out metrics, the gate's decision,
the registered version and how to look at all of it. Run it again and the data, SFT and GRPO steps come from
the cache.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parent / "configs"
ROOT = Path(__file__).resolve().parents[1]

__all__ = ["local_environment", "run_embedded_default", "summary"]

_TRAINED = {
    "tiny": "tiny Janus policy on the synthetic world, SFT -> GRPO",
    "planner": "planner + executor policy (config.policy), SFT -> GRPO",
    "janus_pro": "Janus-Pro (config.policy), GRPO (after SFT when given GoT records)",
}


def local_environment(state: Path) -> str:
    """Point ZenML, MLflow and the trainers at folders under ``state`` (before ZenML's first use); returns the
    MLflow tracking URI. Values already in the environment win."""
    state.mkdir(parents=True, exist_ok=True)
    defaults = {
        "ZENML_CONFIG_PATH": str(state / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_LOGGING_VERBOSITY": "WARN",
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "GOTR1_WORK_DIR": str(state / "work"),
        "GX_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return os.environ["MLFLOW_TRACKING_URI"]


def run_embedded_default(
    config: Path = CONFIGS / "embedded.yaml", state: Path = Path(".gotr1")
) -> dict[str, Any]:
    """Run ``training_pipeline`` with ``config`` on the local stack under ``state``; returns :func:`summary`."""
    state = state.resolve()
    tracking_uri = local_environment(state)
    from zenml.client import Client

    from infra.stacks.register import ensure_mlflow_experiments, register_local
    from pipelines.training_pipeline import training_pipeline

    if Client().root is None:
        Client.initialize(ROOT)  # the source root ZenML resolves steps from (= `zenml init`)
    ensure_mlflow_experiments(tracking_uri, str(state / "mlartifacts"))
    register_local(tracking_uri)
    start = time.perf_counter()
    run = training_pipeline.with_options(config_path=str(config))()
    result = summary(run.id, time.perf_counter() - start)
    print_summary(result, state)
    return result


def summary(run_id: Any, seconds: float) -> dict[str, Any]:
    """What the run trained and decided, read back from the ZenML store."""
    from zenml.client import Client

    from gotr1.evaluation.rollouts import HEADLINE_METRICS

    run = Client().get_pipeline_run(run_id)
    config = (run.config.parameters or {}).get("config") or {}
    policy = (config.get("policy") or {}).get("kind", "tiny")
    metrics = run.steps["evaluate"].outputs["evaluation_metrics"][0].load()
    decision = run.steps["gate"].outputs["gate_decision"][0].load()
    register = run.steps["register"]
    version = (
        Client().get_model_version("gotr1", register.model_version.id) if register.model_version else None
    )
    return {
        "trained": _TRAINED.get(policy, policy),
        "run": run.name,
        "status": str(run.status.value),
        "minutes": seconds / 60,
        "cached_steps": sorted(name for name, s in run.steps.items() if s.status.value == "cached"),
        "metrics": {k: metrics[k] for k in HEADLINE_METRICS if k in metrics},
        "baseline": run.steps["evaluate"].run_metadata.get("baseline_metrics", {}),
        "gate_passed": bool(decision["passed"]),
        "gate_reasons": list(decision["reasons"]),
        "version": version.number if version else None,
        "stage": (version.stage if version else None) or "none (not promoted)",
        "mlflow_version": version.run_metadata.get("mlflow_version") if version else None,
    }


def print_summary(result: dict[str, Any], state: Path) -> None:
    line = "=" * 78
    print(f"\n{line}\ntrained: {result['trained']}, pipeline run")
    print(f"         {result['run']} ({result['status']}) in {result['minutes']:.1f} min")
    if result["cached_steps"]:
        print(f"         reused from the cache: {', '.join(result['cached_steps'])}")
    print("held-out metrics:            GRPO model   (SFT baseline)")
    for key, value in result["metrics"].items():
        base = result["baseline"].get(key)
        print(
            f"  {key:26s} {value:10.3f}   ({base:.3f})"
            if isinstance(base, float)
            else f"  {key:26s} {value:10.3f}"
        )
    verdict = "PASSED" if result["gate_passed"] else "FAILED: " + "; ".join(result["gate_reasons"])
    print(f"gate: {verdict}")
    print(
        f"registered: model 'gotr1' version {result['version']}, stage {result['stage']}, "
        f"MLflow version {result['mlflow_version']}"
    )
    uri = os.environ["MLFLOW_TRACKING_URI"]
    print("look at it:")
    print(f"  ZenML dashboard: ZENML_CONFIG_PATH={state / 'zenml'} .venv/bin/zenml login --local")
    print(f"  MLflow UI:       .venv/bin/mlflow ui --backend-store-uri {uri}")
    print(
        f"  versions:        ZENML_CONFIG_PATH={state / 'zenml'} .venv/bin/python -m pipelines.promote --list"
    )
    print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, default=CONFIGS / "embedded.yaml", help="a training_pipeline config"
    )
    parser.add_argument(
        "--state", type=Path, default=Path(".gotr1"), help="where ZenML, MLflow and work folders live"
    )
    args = parser.parse_args(argv)
    run_embedded_default(args.config, args.state)


if __name__ == "__main__":
    main()

"""A fresh ZenML store (and MLflow database, and trainers' work folder) in a temporary folder, for tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _reset_zenml() -> None:
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    GlobalConfiguration._reset_instance()  # type: ignore[attr-defined]
    Client._reset_instance()  # type: ignore[attr-defined]


@contextmanager
def fresh_zenml_store(root: Path) -> Iterator[Path]:
    """``ZENML_CONFIG_PATH=root/zenml`` (a new SQLite store with the default stack), ``root`` as the working
    folder and ZenML repository root (``zenml init``), MLflow on ``root/mlflow.db``, work folders in
    ``root/work``. Everything is restored afterwards."""
    env = {
        "ZENML_CONFIG_PATH": str(root / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "GOTR1_WORK_DIR": str(root / "work"),
    }
    saved = {k: os.environ.get(k) for k in env}
    cwd = Path.cwd()
    os.environ.update(env)
    os.chdir(root)
    _reset_zenml()
    from zenml.client import Client

    Client.initialize(root)
    try:
        yield root
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_zenml()


CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"


def run_pipeline(
    pipeline: Any,
    root: Path,
    name: str,
    config: str = "smoke.yaml",
    policy: dict[str, Any] | None = None,
    **parameters: object,
) -> Any:
    """Run ``pipeline`` with ``pipelines/configs/<config>`` (its ``config.policy`` replaced by ``policy`` and its
    parameters updated with ``parameters``), written to ``root/<name>.yaml``; returns the run from the store."""
    import yaml
    from zenml.client import Client

    doc = yaml.safe_load((CONFIGS / config).read_text())
    if policy is not None:
        doc["parameters"]["config"]["policy"] = policy
    doc["parameters"].update(parameters)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = pipeline.with_options(config_path=str(path))()
    return Client().get_pipeline_run(run.id)

"""A fresh ZenML store (and MLflow database, and trainers' work folder) in a temporary folder, for tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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

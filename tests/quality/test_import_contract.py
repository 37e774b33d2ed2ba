"""The dependency rule (gotr1 never imports zenml, steps or pipelines) is enforced by import-linter.

This test shows the contract is live: it passes on a copy of the tree, then fails once a gotr1 module imports
zenml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dst: Path) -> None:
    for package in ("gotr1", "steps", "pipelines"):
        shutil.copytree(ROOT / package, dst / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_contract_passes_on_the_tree_and_fails_when_gotr1_imports_zenml(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    clean = _lint(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    (tmp_path / "gotr1" / "_leak.py").write_text("import zenml  # forbidden\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "gotr1 is the library" in broken.stdout
    assert "gotr1._leak -> zenml" in broken.stdout

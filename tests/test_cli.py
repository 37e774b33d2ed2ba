"""`gotr1 generate` and `gotr1 evaluate` on a tiny checkpoint; argument errors say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gotr1.cli import main
from gotr1.embedded import EmbeddedConfig, new_tiny_policy


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = EmbeddedConfig.smoke()
    path = tmp_path_factory.mktemp("ckpt") / "policy"
    new_tiny_policy(config, ["a photo of a red dog left of a blue cup"]).save_pretrained(path)
    return path


def test_generate_writes_chain_image_and_boxes(checkpoint: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "generate",
                "--checkpoint",
                str(checkpoint),
                "--prompt",
                "a photo of a red dog",
                "--n",
                "2",
                "--output",
                str(tmp_path),
            ]
        )
        == 0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "0000-0.boxes.png",
        "0000-0.chain.txt",
        "0000-0.png",
        "0000-1.boxes.png",
        "0000-1.chain.txt",
        "0000-1.png",
    ]
    assert (tmp_path / "0000-0.chain.txt").read_text().startswith("a photo of a red dog\n")


def test_evaluate_geneval_format_reports_out_of_vocabulary(checkpoint: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "meta.jsonl"
    rows = [
        {
            "tag": "colors",
            "prompt": "a photo of a red dog",
            "include": [{"class": "dog", "count": 1, "color": "red"}],
        },
        {
            "tag": "single_object",
            "prompt": "a photo of a giraffe",
            "include": [{"class": "giraffe", "count": 1}],
        },
    ]
    prompts.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "report"
    assert (
        main(
            [
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--compare",
                str(checkpoint),
                "--prompts",
                str(prompts),
                "--samples-per-prompt",
                "2",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["out_of_vocabulary_prompts"] == ["a photo of a giraffe"]
    assert report["scored_prompts"] == 1 and set(report["metrics"]) == {"candidate", "baseline"}
    assert len(report["prompts_sha256"]) == 64
    assert "geneval/image/overall" in report["metrics"]["candidate"]
    assert "<table" in (out / "report.html").read_text()


def test_argument_errors_are_clear(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a gotr1 checkpoint"):
        main(["generate", "--checkpoint", str(tmp_path), "--prompt", "x", "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="does not exist"):
        main(
            [
                "evaluate",
                "--checkpoint",
                str(checkpoint),
                "--prompts",
                str(tmp_path / "nope"),
                "--output",
                str(tmp_path),
            ]
        )
    with pytest.raises(SystemExit, match=">= 1"):
        main(
            [
                "generate",
                "--checkpoint",
                str(checkpoint),
                "--prompt",
                "x",
                "--n",
                "0",
                "--output",
                str(tmp_path),
            ]
        )

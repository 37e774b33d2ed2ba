"""`gotr1 generate` and `gotr1 evaluate` on a tiny checkpoint built as the project builds it (untrained, so scores
are low, but every output must be complete and consistent); argument errors say what is wrong and where."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gotr1.cli import main
from gotr1.embedded import EmbeddedConfig, new_tiny_policy

CORPUS = ["a photo of a red dog left of a blue cup", "a dog next to a cup"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "policy"
    new_tiny_policy(EmbeddedConfig.smoke(), CORPUS).save_pretrained(path)  # world: dog, cat, cup; red, blue
    return path


def _run(argv: list[str]) -> None:
    assert main([*argv, "--threads", "1"]) == 0  # one thread: the tiny model is fastest so on a busy CPU


def _lines(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_generate_writes_chain_image_and_boxes(checkpoint: Path, tmp_path: Path) -> None:
    args = ["generate", "--checkpoint", str(checkpoint), "--prompt", "a photo of a red dog", "--n", "2"]
    _run([*args, "--output", str(tmp_path / "one")])
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == [f"0000-{k}.{kind}" for k in (0, 1) for kind in ("boxes.png", "chain.txt", "png")]
    prompt, chain = (tmp_path / "one" / "0000-0.chain.txt").read_text().splitlines()[:2]
    assert prompt == "a photo of a red dog" and chain.endswith("<begin_of_image>")
    with (
        Image.open(tmp_path / "one" / "0000-0.png") as image,
        Image.open(tmp_path / "one" / "0000-0.boxes.png") as boxes,
    ):
        assert image.size == boxes.size

    prompts = _lines(tmp_path / "prompts.txt", ["a photo of a cat", "", "a photo of two cups"])
    _run(
        [
            "generate",
            "--checkpoint",
            str(checkpoint),
            "--prompts",
            str(prompts),
            "--output",
            str(tmp_path / "many"),
        ]
    )
    texts = sorted((tmp_path / "many").glob("*.chain.txt"))
    assert [t.read_text().splitlines()[0] for t in texts] == ["a photo of a cat", "a photo of two cups"]


def _geneval_rows() -> list[dict[str, object]]:
    return [
        {
            "tag": "colors",
            "prompt": "a photo of a red dog",
            "include": [{"class": "dog", "count": 1, "color": "red"}],
        },
        {
            "tag": "two_object",
            "prompt": "a photo of a cat and a cup",
            "include": [{"class": "cat", "count": 1}, {"class": "cup", "count": 1}],
        },
        {
            "tag": "counting",
            "prompt": "a photo of two dogs",
            "include": [{"class": "dog", "count": 2}],
            "exclude": [{"class": "dog", "count": 3}],
        },
        {
            "tag": "single_object",
            "prompt": "a photo of a giraffe",
            "include": [{"class": "giraffe", "count": 1}],
        },
    ]


def _geneval_overall(rows: pd.DataFrame) -> float:
    """djghosh13/geneval summary_scores.py: the mean over tags of the per-tag accuracy."""
    return float(np.mean([task["correct"].mean() for _, task in rows.groupby("tag", sort=False)]))


def test_evaluate_geneval_side_by_side_with_out_of_vocabulary_prompts(
    checkpoint: Path, tmp_path: Path
) -> None:
    prompts = tmp_path / "evaluation_metadata.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in _geneval_rows()))
    out = tmp_path / "report"
    argv = [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--compare",
        str(checkpoint),
        "--name",
        "GRPO",
        "SFT",
    ]
    _run([*argv, "--prompts", str(prompts), "--samples-per-prompt", "2", "--output", str(out)])

    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "geneval" and report["prompt_count"] == 4 and report["samples_per_prompt"] == 2
    assert report["prompts_sha256"] == hashlib.sha256(prompts.read_bytes()).hexdigest()
    assert set(report["models"]) == {"GRPO", "SFT"}
    for name, model in report["models"].items():
        assert model["checkpoint"] == str(checkpoint.resolve())
        assert model["out_of_vocabulary"] == {
            "count": 1,
            "prompts": [
                {
                    "prompt": "a photo of a giraffe",
                    "group": "single_object",
                    "missing": ["class 'giraffe'", "word 'giraffe'"],
                }
            ],
        }
        for kind in ("plan", "image"):
            rows = pd.read_json(out / f"geneval_{name}_{kind}.jsonl", lines=True)
            assert len(rows) == 8 and rows["tag"].drop_duplicates().tolist() == [
                "colors",
                "two_object",
                "counting",
                "single_object",
            ]
            giraffe = rows[rows["prompt"] == "a photo of a giraffe"]
            assert (
                not giraffe["correct"].any()
                and giraffe["reason"].str.contains("outside the model's vocabulary").all()
            )
            assert model["metrics"][f"geneval/{kind}/overall"] == pytest.approx(_geneval_overall(rows))
            inside = rows[rows["prompt"] != "a photo of a giraffe"]
            assert model["metrics"][f"geneval_in_vocabulary/{kind}/overall"] == pytest.approx(
                _geneval_overall(inside)
            )
            assert (
                model["geneval"][kind]["all"]["images"] == 8
                and model["geneval"][kind]["in_vocabulary"]["prompts"] == 3
            )
        samples = [json.loads(line) for line in (out / f"samples_{name}.jsonl").read_text().splitlines()]
        assert len(samples) == 6 and {s["prompt"] for s in samples} == {
            r["prompt"] for r in _geneval_rows()[:3]
        }
        assert all(0.0 <= s["r_pi"] <= 1.0 and isinstance(s["image_correct"], bool) for s in samples)
    # Same checkpoint, same seed: the two columns agree.
    assert report["models"]["GRPO"]["metrics"] == report["models"]["SFT"]["metrics"]
    page = (out / "report.html").read_text()
    assert (
        page.count("<table") >= 5 and page.count("data:image/png;base64,") == 2 + 2 * 3
    )  # two plots, 3 prompts x 2 models
    assert "GRPO image" in page and "SFT plan" in page and "a photo of a giraffe" in page


def test_evaluate_t2i_compbench_folder_by_category(checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compbench"
    folder.mkdir()
    _lines(folder / "color_val.txt", ["a red dog and a blue cup", "a dog next to a cup"])
    _lines(folder / "spatial_val.txt", ["a cat left of a cup"])
    _lines(folder / "color_train.txt", ["a blue cat"])  # training prompts are never evaluated
    out = tmp_path / "report"
    _run(
        [
            "evaluate",
            "--checkpoint",
            str(checkpoint),
            "--prompts",
            str(folder),
            "--samples-per-prompt",
            "2",
            "--output",
            str(out),
        ]
    )
    report = json.loads((out / "report.json").read_text())
    model = report["models"]["model"]
    assert (
        report["format"] == "t2i-compbench"
        and report["groups"] == ["color", "spatial"]
        and report["prompt_count"] == 3
    )
    assert model["unscorable"] == {
        "count": 1,
        "prompts": ["a dog next to a cup"],
    }  # no scene spec for the verifier
    assert model["groups"]["color"]["sampled_prompts"] == 1 and model["groups"]["spatial"]["samples"] == 2
    for category in ("color", "spatial"):
        assert 0.0 <= model["metrics"][f"group/{category}/r_pi"] <= 1.0
    # The parseable prompts get GenEval's checks too: T2I-CompBench's colour prompt is a color_attr scene.
    assert list(model["geneval"]["image"]["all"]["tags"]) == ["color_attr", "position"]
    assert "Judge rewards per category" in (out / "report.html").read_text()


class _JudgeHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible judge on 127.0.0.1 (the remote boundary): R_PI 9/10, R_sem 8/10, R_spa 10/10, and
    one grounding box for every object."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
        text = body["messages"][-1]["content"][-1]["text"]
        if "Locate the" in text:
            reply = '[{"bbox_2d": [0, 0, 64, 64], "label": "x"}]'
        elif "caption evaluator" in system:
            reply = '{"score": 8}'
        elif "planned layout" in system:
            reply = '{"reasoning": "ok", "score": 10}'
        else:
            reply = '{"description": "d", "caption": "c", "reasoning": "r", "score": 9}'
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_evaluate_with_an_http_judge_scores_free_form_prompts(
    checkpoint: Path, tmp_path: Path, judge_url: str
) -> None:
    prompts = _lines(tmp_path / "color_val.txt", ["a red dog and a blue cup", "a dog next to a cup"])
    out = tmp_path / "report"
    _run(
        [
            "evaluate",
            "--checkpoint",
            str(checkpoint),
            "--prompts",
            str(prompts),
            "--judge",
            "http",
            "--judge-url",
            judge_url,
            "--samples-per-prompt",
            "2",
            "--output",
            str(out),
        ]
    )
    report = json.loads((out / "report.json").read_text())
    model = report["models"]["model"]
    assert report["format"] == "t2i-compbench" and judge_url in report["judge"]
    assert model["unscorable"]["count"] == 0 and model["groups"]["color"]["sampled_prompts"] == 2
    assert model["groups"]["color"]["r_pi"] == pytest.approx(0.9)
    assert all(model["metrics"][f"judge_failures/{k}"] == 0 for k in ("r_sem", "r_spa", "r_ri", "r_pi"))
    # The synthetic world's images are still checked exactly: the judge's 9/10 does not make them correct.
    samples = [json.loads(line) for line in (out / "samples_model.jsonl").read_text().splitlines()]
    spec_samples = [s for s in samples if s["prompt"] == "a red dog and a blue cup"]
    assert [s["image_correct"] is not None for s in spec_samples] == [True, True]
    assert all(s["image_correct"] is None for s in samples if s["prompt"] == "a dog next to a cup")


@pytest.fixture(scope="module")
def janus_pro_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-scale path at test size: a random Janus with a real VQ decoder, loaded as Janus-Pro is and saved."""
    import torch

    from gotr1.models.janus import GenerationSettings
    from gotr1.models.janus_pro import load_janus_pro
    from tests.helpers.janus_pro import tiny_janus_pro

    base = tiny_janus_pro(tmp_path_factory.mktemp("janus") / "base")
    settings = GenerationSettings(max_chain_tokens=12, cfg_scale=5.0)
    policy = load_janus_pro(str(base), lora_rank=4, lora_alpha=4, dtype=torch.float32, generation=settings)
    path = tmp_path_factory.mktemp("janus") / "policy"
    policy.save_pretrained(path)
    return path


def test_janus_pro_checkpoint_generates_and_is_judged_over_http(
    janus_pro_checkpoint: Path, tmp_path: Path, judge_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = ["--checkpoint", str(janus_pro_checkpoint)]
    _run(["generate", *ckpt, "--prompt", "a photo of a red dog", "--output", str(tmp_path / "gen")])
    with Image.open(tmp_path / "gen" / "0000-0.png") as image:
        # 2 x 2 VQ codes decoded to pixels (one upsampling stage)
        assert image.size == (4, 4) and image.mode == "RGB"
    prompts = tmp_path / "meta.jsonl"
    rows = _geneval_rows()[:2]  # "a photo of a red dog" and one with words this tokenizer does not know
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _fails(
        ["evaluate", *ckpt, "--prompts", str(prompts), "--output", str(tmp_path / "r")],
        capsys,
        "synthetic-world",
    )
    out = tmp_path / "report"
    _run(
        [
            "evaluate",
            *ckpt,
            "--prompts",
            str(prompts),
            "--judge",
            "http",
            "--judge-url",
            judge_url,
            "--output",
            str(out),
        ]
    )
    model = json.loads((out / "report.json").read_text())["models"]["model"]
    assert model["out_of_vocabulary"]["prompts"][0]["missing"] == ["word 'cat'"]
    # Judged images: r_pi = 9/10 >= the 0.8 threshold, so every in-vocabulary image is GenEval-correct.
    assert model["geneval"]["image"]["in_vocabulary"]["overall"] == 1.0
    assert (
        model["geneval"]["image"]["all"]["overall"] == 0.5
    )  # colors 4/4, two_object 0/4 (out of vocabulary)
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_evaluate_prompt_lines(checkpoint: Path, tmp_path: Path) -> None:
    prompts = _lines(tmp_path / "prompts.txt", ["a photo of a red dog", "a photo of a blue cup"])
    out = tmp_path / "report"
    _run(
        [
            "evaluate",
            "--checkpoint",
            str(checkpoint),
            "--prompts",
            str(prompts),
            "--samples-per-prompt",
            "1",
            "--output",
            str(out),
        ]
    )
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "lines" and report["groups"] == ["colors"]
    assert report["models"]["model"]["geneval"]["plan"]["all"]["images"] == 2


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_argument_errors_are_clear(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = _lines(tmp_path / "p.txt", ["a photo of a dog"])
    out = ["--output", str(tmp_path / "out")]
    gen = ["generate", "--prompt", "a photo of a dog", *out]
    _fails(
        [*gen, "--checkpoint", str(tmp_path / "nope")],
        capsys,
        f"--checkpoint {tmp_path / 'nope'}: no such folder",
    )
    _fails([*gen, "--checkpoint", str(prompts)], capsys, "not a folder")
    run = tmp_path / "run"
    (run / "policy").mkdir(parents=True)
    (run / "policy" / "config.json").write_text("{}")
    _fails(
        [*gen, "--checkpoint", str(run)],
        capsys,
        f"codec.json, generation.json missing); did you mean {run / 'policy'}?",
    )
    _fails([*gen, "--checkpoint", str(checkpoint), "--n", "0"], capsys, "argument --n: must be >= 1, got 0")
    _fails(["generate", "--checkpoint", str(checkpoint), "--prompt", " ", *out], capsys, "--prompt is empty")

    ev = ["evaluate", "--checkpoint", str(checkpoint), *out]
    _fails([*ev, "--prompts", str(tmp_path / "missing.jsonl")], capsys, "missing.jsonl: no such file")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00prompt")
    _fails([*ev, "--prompts", str(binary)], capsys, "not UTF-8 text")
    _fails(
        [*ev, "--prompts", str(prompts), "--format", "csv"],
        capsys,
        "argument --format: invalid choice: 'csv'",
    )
    broken = _lines(tmp_path / "broken.jsonl", ['{"tag": "colors", "prompt": "a photo of a red dog"}'])
    _fails([*ev, "--prompts", str(broken)], capsys, "line 1: a GenEval row needs 'prompt' and 'include'")
    _fails(
        [*ev, "--prompts", str(tmp_path), "--format", "geneval"],
        capsys,
        "a folder is read only with --format t2i-compbench",
    )
    _fails(
        [*ev, "--prompts", str(prompts), "--format", "t2i-compbench"], capsys, "is named <category>_val.txt"
    )
    _fails([*ev, "--prompts", str(prompts), "--judge", "http"], capsys, "--judge http needs --judge-url")
    _fails(
        [*ev, "--prompts", str(prompts), "--name", "a", "b"],
        capsys,
        "--name takes one label per checkpoint (1), got 2",
    )
    _fails(
        ["evaluate", "--checkpoint", str(checkpoint), "--prompts", str(prompts), "--output", str(prompts)],
        capsys,
        "exists and is not a folder",
    )
    assert not (tmp_path / "out").exists()

"""Report pieces: planned boxes drawn over images, inline PNG plots, the pipelines' HTML report."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from gotr1.evaluation.report import bar_chart_png, curves_png, render_report, sample_with_boxes
from gotr1.evaluation.rollouts import EvalItem, score_samples
from gotr1.judges.verifier import VerifierJudge
from gotr1.reasoning.layout import LAYOUT_COLORS
from gotr1.synthetic.world import WorldConfig, sample_scene

WORLD = WorldConfig(grid_size=8)
CODEC = WORLD.codec()
CHAIN = "A <|obj_start|>red dog<|obj_end|> <|box_start|>(250,250),(749,749)<|box_end|>.<begin_of_image>"


def _decode(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_planned_boxes_are_drawn_where_the_chain_puts_them() -> None:
    blank = Image.new("RGB", (200, 200), (200, 200, 200))
    drawn = sample_with_boxes(blank, CHAIN)
    assert drawn.size == blank.size and blank.getpixel((100, 100)) == (
        200,
        200,
        200,
    )  # the input is untouched
    assert drawn.getpixel((51, 120)) == LAYOUT_COLORS[0]  # the box's left edge (x1 = 250/1000 * 200 = 50)
    assert drawn.getpixel((120, 120)) == (200, 200, 200)  # inside the box: the image shows through
    assert drawn.getpixel((20, 20)) == (200, 200, 200)
    unparsed = sample_with_boxes(blank, "no chain here")
    assert list(unparsed.getdata()) == list(blank.getdata())
    tiny = "<|obj_start|>cup<|obj_end|> <|box_start|>(10,10),(11,11)<|box_end|><begin_of_image>"
    assert sample_with_boxes(blank, tiny).size == (200, 200)  # a sub-pixel box still draws


def test_plots_are_inline_pngs() -> None:
    bars = _decode(
        bar_chart_png(["a", "b", "c"], {"SFT": [0.2, math.nan, 1.0], "GRPO": [0.4, 0.5, 0.9]}, "t")
    )
    curves = _decode(curves_png({"reward": [(0, 0.1), (1, 0.3)], "empty": []}, "t"))
    assert bars.format == curves.format == "PNG" and bars.size[0] > 100


def test_pipeline_report_has_a_column_per_model_and_captioned_samples() -> None:
    rng = np.random.default_rng(0)
    scenes = [sample_scene(WORLD, rng) for _ in range(3)]
    items = [EvalItem(s.prompt, s.spec.tag, s.spec) for s in scenes]
    samples = score_samples(
        items, [s.chain_text for s in scenes], [s.grid for s in scenes], VerifierJudge(CODEC), CODEC
    )
    page = render_report(
        "eval", {"GRPO": {"plan_accuracy": 1.0}, "SFT": {"plan_accuracy": 0.5}}, samples, CODEC
    )
    assert "<th>GRPO</th><th>SFT</th>" in page and "<td>0.5000</td>" in page
    assert (
        page.count("data:image/png;base64,") == 3 and page.count("plan: <span class='ok'>correct</span>") == 3
    )

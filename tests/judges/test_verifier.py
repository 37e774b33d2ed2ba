"""The verifier judge: the world's own plans and images score 1.0; each corruption lowers exactly what it should."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gotr1.judges.base import JudgeRequest, Verdict
from gotr1.judges.verifier import VerifierJudge
from gotr1.reasoning import Box, GoTChain, GroundedObject, parse
from gotr1.synthetic.world import Sample, WorldConfig, paint_layout, sample_dataset, sample_scene

WORLD = WorldConfig()
CODEC = WORLD.codec()
JUDGE = VerifierJudge(CODEC)


def _request(sample: Sample, chain: GoTChain | None = None, grid: np.ndarray | None = None) -> JudgeRequest:
    parsed = parse(sample.chain_text)
    assert isinstance(parsed, GoTChain)
    return JudgeRequest(sample.prompt, chain or parsed, sample.grid if grid is None else grid, sample.spec)


def _scores(v: Verdict) -> tuple[float | None, ...]:
    return (v.r_sem, v.r_spa, v.r_ri, v.r_pi)


def test_world_scores_one_on_ten_thousand_scenes() -> None:
    samples = sample_dataset(WORLD, 10_000, seed=123)
    verdicts = JUDGE.judge([_request(s) for s in samples])
    bad = [
        (s.prompt, _scores(v)) for s, v in zip(samples, verdicts, strict=True) if _scores(v) != (1, 1, 1, 1)
    ]
    assert not bad, bad[:5]
    assert all(v.detail["correct"] and v.detail["plan_correct"] for v in verdicts)


def _scene(tag: str, seed: int = 0) -> Sample:
    return sample_scene(WORLD, np.random.default_rng(seed), tag=tag)


def _replace_object(chain: GoTChain, index: int, obj: GroundedObject | None) -> GoTChain:
    objects = [s for s in chain.segments if isinstance(s, GroundedObject)]
    target = objects[index]
    segments = (
        [s for s in chain.segments if s is not target]
        if obj is None
        else [obj if s is target else s for s in chain.segments]
    )
    merged: list[str | GroundedObject] = []
    for s in segments:
        if isinstance(s, str) and merged and isinstance(merged[-1], str):
            merged[-1] += s
        else:
            merged.append(s)
    return GoTChain(tuple(merged))


def _repaint(sample: Sample, chain: GoTChain) -> np.ndarray:
    """The image that follows a corrupted plan (so only the plan-vs-prompt rewards move)."""
    layout = []
    for obj, placed in zip(chain.objects, sample.layout, strict=False):
        color, cls = obj.phrase.split(" ", 1)
        g = WORLD.grid_size
        layout.append(
            dataclasses.replace(
                placed,
                cls=cls,
                color=color,
                c0=obj.box.x1 * g // 1000,
                r0=obj.box.y1 * g // 1000,
                c1=(obj.box.x2 + 1) * g // 1000,
                r1=(obj.box.y2 + 1) * g // 1000,
            )
        )
    return paint_layout(layout, CODEC)


def test_relation_flipped_lowers_plan_spatial_and_image_but_not_semantics_or_consistency() -> None:
    sample = _scene("position", seed=3)
    chain = parse(sample.chain_text)
    assert isinstance(chain, GoTChain)
    subject, anchor = chain.objects  # the chain names the positioned object first
    swapped = _replace_object(
        _replace_object(chain, 0, GroundedObject(subject.phrase, anchor.box)),
        1,
        GroundedObject(anchor.phrase, subject.box),
    )
    v = JUDGE.judge([_request(sample, swapped, _repaint(sample, swapped))])[0]
    assert v.r_sem == 1.0 and v.r_ri == 1.0
    assert v.r_spa is not None and v.r_spa < 1.0
    assert v.r_pi is not None and v.r_pi < 1.0


def test_count_changed_lowers_semantics_spatial_image() -> None:
    sample = _scene("counting", seed=1)
    chain = parse(sample.chain_text)
    assert isinstance(chain, GoTChain)
    fewer = _replace_object(chain, 0, None)
    v = JUDGE.judge([_request(sample, fewer, _repaint(sample, fewer))])[0]
    assert v.r_sem is not None and v.r_sem < 1.0
    assert v.r_spa is not None and v.r_spa < 1.0
    assert v.r_pi is not None and v.r_pi < 1.0
    assert v.r_ri == 1.0  # the image follows the (wrong) plan exactly


def test_colour_changed_in_the_plan_lowers_semantics_only_when_the_image_keeps_the_prompt_colour() -> None:
    sample = _scene("colors", seed=2)
    chain = parse(sample.chain_text)
    assert isinstance(chain, GoTChain)
    (obj,) = chain.objects
    color, cls = obj.phrase.split(" ", 1)
    other = next(c for c in WORLD.colors if c != color)
    recoloured = _replace_object(chain, 0, GroundedObject(f"{other} {cls}", obj.box))
    v = JUDGE.judge([_request(sample, recoloured)])[0]  # the image is the prompt-faithful original
    assert v.r_sem is not None and v.r_sem < 1.0
    assert (v.r_spa, v.r_ri, v.r_pi) == (1.0, 1.0, 1.0)  # grounding finds the object whatever its colour


def test_box_shifted_lowers_only_consistency() -> None:
    sample = _scene("single_object", seed=4)
    chain = parse(sample.chain_text)
    assert isinstance(chain, GoTChain)
    (obj,) = chain.objects
    b = obj.box
    shifted_box = (
        Box(b.x1 // 2, b.y1, b.x1 // 2 + (b.x2 - b.x1), b.y2) if b.x1 > 0 else Box(b.x1 + 1, b.y1, b.x2, b.y2)
    )
    shifted = _replace_object(chain, 0, GroundedObject(obj.phrase, shifted_box))
    v = JUDGE.judge([_request(sample, shifted)])[0]
    assert (v.r_sem, v.r_spa, v.r_pi) == (1.0, 1.0, 1.0)
    assert v.r_ri is not None and 0.0 < v.r_ri < 1.0


def test_object_dropped_from_the_image_lowers_consistency_and_image() -> None:
    sample = _scene("two_object", seed=5)
    grid = sample.grid.copy()
    grid[grid == grid.max()] = 0
    v = JUDGE.judge([_request(sample, grid=grid)])[0]
    assert (v.r_sem, v.r_spa) == (1.0, 1.0)
    assert v.r_ri == pytest.approx(0.5)
    assert v.r_pi is not None and v.r_pi < 1.0 and not v.detail["correct"]


def test_unparsed_chain_gets_zero_plan_rewards_and_a_judged_image() -> None:
    sample = _scene("colors", seed=6)
    v = JUDGE.judge([JudgeRequest(sample.prompt, None, sample.grid, sample.spec)])[0]
    assert (v.r_sem, v.r_spa, v.r_ri, v.r_pi) == (0.0, 0.0, 0.0, 1.0)


def test_missing_spec_is_a_clear_error() -> None:
    sample = _scene("colors")
    with pytest.raises(ValueError, match="needs a scene spec"):
        JUDGE.judge([JudgeRequest(sample.prompt, None, sample.grid, None)])

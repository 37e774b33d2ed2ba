"""The evaluator's own sanity on GenEval's 553 prompts: oracle plans and images (a layout satisfying each spec,
painted by the world's painter) score 1.0; shuffled plans or images score far lower, each on its own side;
known-wrong plans and images fail for the right reason."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gotr1.evaluation.geneval import check_plan
from gotr1.evaluation.rollouts import EvalItem, EvaluatedSample, score_samples, summarise
from gotr1.judges.verifier import VerifierJudge
from gotr1.reasoning.chain import Box, GoTChain, parse, render
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.world import WorldConfig, paint_layout, sample_for_spec

WORLD = WorldConfig(classes="all")  # GenEval's 80 classes
CODEC = WORLD.codec()
JUDGE = VerifierJudge(CODEC)


@pytest.fixture(scope="module")
def oracle(shared_data: Path) -> tuple[list[EvalItem], list[str], list[np.ndarray]]:
    lines = (shared_data / "geneval" / "evaluation_metadata.jsonl").read_text().splitlines()
    specs = [SceneSpec.from_geneval(json.loads(line)) for line in lines]
    rng = np.random.default_rng(0)
    samples = [sample_for_spec(spec, WORLD, rng) for spec in specs]
    items = [EvalItem(s.prompt, s.tag, s) for s in specs]
    return items, [s.chain_text for s in samples], [s.grid for s in samples]


def _score(items: list[EvalItem], chains: list[str], grids: list[np.ndarray]) -> list[EvaluatedSample]:
    return score_samples(items, chains, grids, JUDGE, CODEC)


def test_oracle_scores_one_on_all_geneval_prompts(
    oracle: tuple[list[EvalItem], list[str], list[np.ndarray]],
) -> None:
    items, chains, grids = oracle
    assert len(items) == 553
    metrics = summarise(_score(items, chains, grids))
    assert metrics["geneval/plan/overall"] == 1.0 and metrics["geneval/image/overall"] == 1.0
    assert metrics["plan_accuracy"] == 1.0 and metrics["image_accuracy"] == 1.0
    assert metrics["reward/total"] == 2.0  # product_v1 at its maximum: 1 * (1 + 1) * 1
    # The full-scale reading of phrases (GenEval's vocabulary, no world codec) agrees on every oracle plan.
    for it, text in zip(items, chains, strict=True):
        chain = parse(text)
        assert it.spec is not None and isinstance(chain, GoTChain)
        assert check_plan(it.spec, chain, codec=None) == (True, "")
    tags = {"single_object", "two_object", "counting", "colors", "position", "color_attr"}
    assert {k.split("/")[-1] for k in metrics if k.startswith("geneval/image/")} == {
        *tags,
        "overall",
        "correct_images",
        "correct_prompts",
    }


def test_shuffled_plans_or_images_score_far_lower_on_their_side(
    oracle: tuple[list[EvalItem], list[str], list[np.ndarray]],
) -> None:
    items, chains, grids = oracle
    shuffled_chains, shuffled_grids = list(chains), list(grids)
    random.Random(0).shuffle(shuffled_chains)
    random.Random(1).shuffle(shuffled_grids)
    plans_shuffled = summarise(_score(items, shuffled_chains, grids))
    assert plans_shuffled["geneval/plan/overall"] < 0.2 and plans_shuffled["geneval/image/overall"] == 1.0
    images_shuffled = summarise(_score(items, chains, shuffled_grids))
    assert images_shuffled["geneval/image/overall"] < 0.2 and images_shuffled["geneval/plan/overall"] == 1.0


def _mirror_box(box: Box, axis: str) -> Box:
    if axis == "x":
        return Box(999 - box.x2, box.y1, 999 - box.x1, box.y2)
    return Box(box.x1, 999 - box.y2, box.x2, 999 - box.y1)


def test_mirrored_position_prompts_fail_for_their_relation(
    oracle: tuple[list[EvalItem], list[str], list[np.ndarray]],
) -> None:
    items, chains, grids = oracle
    rows = [(it, c, g) for it, c, g in zip(items, chains, grids, strict=True) if it.group == "position"]
    assert len(rows) == 100
    wrong_chains, wrong_grids = [], []
    for it, text, grid in rows:
        assert it.spec is not None and it.spec.include[1].position is not None
        axis = "x" if it.spec.include[1].position[0] in ("left of", "right of") else "y"
        chain = parse(text)
        assert isinstance(chain, GoTChain)
        mirrored = tuple(
            replace(s, box=_mirror_box(s.box, axis)) if not isinstance(s, str) else s for s in chain.segments
        )
        wrong_chains.append(render(GoTChain(mirrored, ends_with_image=True)))
        wrong_grids.append(np.fliplr(grid).copy() if axis == "x" else np.flipud(grid).copy())
    scored = _score([r[0] for r in rows], wrong_chains, wrong_grids)
    for s in scored:
        assert s.spec is not None and s.spec.include[1].position is not None
        relation = s.spec.include[1].position[0]
        expected = f"expected {s.spec.include[1].cls} {relation} target"
        assert s.plan_correct is False and expected in s.plan_reason
        assert s.image_correct is False and expected in s.image_reason


def test_recoloured_and_miscounted_samples_fail_for_their_reason(
    oracle: tuple[list[EvalItem], list[str], list[np.ndarray]],
) -> None:
    items, chains, grids = oracle
    colors = [k for k, it in enumerate(items) if it.group == "colors"]
    counting = [k for k, it in enumerate(items) if it.group == "counting"]
    recoloured = []
    for k in colors:
        spec = items[k].spec
        assert spec is not None and spec.include[0].color is not None
        wrong = "red" if spec.include[0].color != "red" else "blue"
        sample = sample_for_spec(spec, WORLD, np.random.default_rng(k))
        layout = tuple(replace(p, color=wrong) for p in sample.layout)
        recoloured.append(paint_layout(layout, CODEC))
    scored = _score([items[k] for k in colors], [chains[k] for k in colors], recoloured)
    for s in scored:
        assert s.spec is not None
        assert s.plan_correct is True
        assert (
            not s.image_correct
            and f"expected {s.spec.include[0].color} {s.spec.include[0].cls}" in s.image_reason
        )

    fewer = []
    for k in counting:
        chain = parse(chains[k])
        assert isinstance(chain, GoTChain)
        first = next(i for i, seg in enumerate(chain.segments) if not isinstance(seg, str))
        kept = chain.segments[:first] + chain.segments[first + 2 :]  # one grounded object and its prose gone
        fewer.append(render(GoTChain(kept, ends_with_image=True)))
    scored = _score([items[k] for k in counting], fewer, [grids[k] for k in counting])
    for s in scored:
        assert s.spec is not None
        obj = s.spec.include[0]
        assert (
            not s.plan_correct and f"expected {obj.cls}>={obj.count}, found {obj.count - 1}" in s.plan_reason
        )
        assert s.image_correct is True


def test_score_samples_needs_one_chain_and_image_per_sample(
    oracle: tuple[list[EvalItem], list[str], list[np.ndarray]],
) -> None:
    items, chains, grids = oracle
    with pytest.raises(ValueError, match=r"expected 2 x 2 chains and images, got 2 chains"):
        score_samples(items[:2], chains[:2], grids[:2], JUDGE, CODEC, samples_per_prompt=2)

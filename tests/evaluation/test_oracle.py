"""The evaluator's own sanity on GenEval's 553 prompts: oracle plans and images score 1.0; shuffled plans score
far lower; known-wrong cases fail for the right reason."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from gotr1.evaluation.rollouts import EvaluatedSample, summarise
from gotr1.judges.base import JudgeRequest
from gotr1.judges.verifier import VerifierJudge
from gotr1.reasoning import GoTChain, parse
from gotr1.rewards import RewardConfig, combine
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.world import WorldConfig, sample_for_spec

WORLD = WorldConfig(classes="all")
CODEC = WORLD.codec()


def _oracle(specs: list[SceneSpec]) -> list[tuple[SceneSpec, str, np.ndarray]]:
    rng = np.random.default_rng(0)
    samples = [sample_for_spec(spec, WORLD, rng) for spec in specs]
    return [(s.spec, s.chain_text, s.grid) for s in samples]


def _evaluate(rows: list[tuple[SceneSpec, str, np.ndarray]]) -> dict[str, float]:
    chains = [parse(text) for _, text, _ in rows]
    requests = [
        JudgeRequest(s.prompt, c if isinstance(c, GoTChain) else None, g, s)
        for (s, _, g), c in zip(rows, chains, strict=True)
    ]
    verdicts = VerifierJudge(CODEC).judge(requests)
    totals = combine(verdicts, RewardConfig()).totals
    samples = [
        EvaluatedSample(s.prompt, s.tag, text, True, g, v, t)
        for (s, text, g), v, t in zip(rows, verdicts, totals, strict=True)
    ]
    return summarise(samples)


def _geneval(shared_data: Path) -> list[SceneSpec]:
    lines = (shared_data / "geneval" / "evaluation_metadata.jsonl").read_text().splitlines()
    return [SceneSpec.from_geneval(json.loads(line)) for line in lines]


def test_oracle_scores_one_on_all_geneval_prompts(shared_data: Path) -> None:
    specs = _geneval(shared_data)
    metrics = _evaluate(_oracle(specs))
    assert len(specs) == 553
    assert metrics["geneval/plan/overall"] == 1.0 and metrics["geneval/image/overall"] == 1.0
    assert metrics["reward/total"] == 2.0  # product_v1 at its maximum: 1 * (1 + 1) * 1
    assert {k.split("/")[-1] for k in metrics if k.startswith("geneval/image/")} >= {
        "single_object",
        "two_object",
        "counting",
        "colors",
        "position",
        "color_attr",
        "overall",
    }


def test_shuffled_plans_and_images_score_far_lower(shared_data: Path) -> None:
    rows = _oracle(_geneval(shared_data))
    chains, grids = [r[1] for r in rows], [r[2] for r in rows]
    random.Random(0).shuffle(chains)
    random.Random(1).shuffle(grids)
    metrics = _evaluate([(s, c, g) for (s, _, _), c, g in zip(rows, chains, grids, strict=True)])
    assert metrics["geneval/plan/overall"] < 0.2 and metrics["geneval/image/overall"] < 0.2


def test_known_wrong_cases_fail_for_the_right_reason() -> None:
    spec = SceneSpec.from_geneval(
        {
            "tag": "position",
            "prompt": "a photo of a dog right of a teddy bear",
            "include": [
                {"class": "teddy bear", "count": 1},
                {"class": "dog", "count": 1, "position": ["right of", 0]},
            ],
        }
    )
    ((_, _, grid),) = _oracle([spec])
    flipped = np.fliplr(grid).copy()
    verdict = VerifierJudge(CODEC).judge([JudgeRequest(spec.prompt, None, flipped, spec)])[0]
    assert not verdict.detail["correct"]
    assert any("right of" in reason for reason in verdict.detail["image_reasons"])

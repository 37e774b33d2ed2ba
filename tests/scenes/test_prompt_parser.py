"""The GenEval prompt parser reproduces GenEval's own metadata; the world's prompts parse back to their specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.world import WORLD_TAGS, WorldConfig, sample_scene


def test_reproduces_geneval_metadata_for_at_least_99_percent(shared_data: Path) -> None:
    rows = [json.loads(line) for line in (shared_data / "geneval" / "evaluation_metadata.jsonl").open()]
    misses = [
        r["prompt"]
        for r in rows
        if (p := parse_prompt(r["prompt"])) is None or p != SceneSpec.from_geneval(r)
    ]
    print(f"GenEval parser: {len(rows) - len(misses)}/{len(rows)} exact; misses: {misses}")
    assert len(rows) == 553
    assert len(misses) <= 0.01 * len(rows), misses


@pytest.mark.parametrize("tag", WORLD_TAGS)
def test_world_prompts_parse_to_their_specs(tag: str) -> None:
    world = WorldConfig(classes="all")
    for seed in range(20):
        spec = sample_scene(world, np.random.default_rng(seed), tag=tag).spec
        assert parse_prompt(spec.prompt) == spec, spec.prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "a drawing of a dog",
        "a photo of a unicorn",
        "a photo of five dogs",
        "a photo of two dogs left of a cat",
        "",
    ],
)
def test_other_shapes_are_not_guessed(prompt: str) -> None:
    assert parse_prompt(prompt) is None

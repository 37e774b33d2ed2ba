"""The synthetic world: GenEval-format specs, reproducible samples, exact detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gotr1.reasoning import GoTChain, parse
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.detect import detect, paint, phrase_to_object
from gotr1.synthetic.world import WORLD_TAGS, WorldConfig, cells_to_box, sample_dataset, sample_scene

WORLD = WorldConfig()


def test_dataset_is_a_pure_function_of_config_n_and_seed() -> None:
    a, b = sample_dataset(WORLD, 50, seed=7), sample_dataset(WORLD, 50, seed=7)
    assert [s.chain_text for s in a] == [s.chain_text for s in b]
    assert all(np.array_equal(x.grid, y.grid) for x, y in zip(a, b, strict=True))
    assert [s.chain_text for s in sample_dataset(WORLD, 50, seed=8)] != [s.chain_text for s in a]


def test_every_chain_parses_and_chains_are_varied() -> None:
    samples = sample_dataset(WORLD, 2000, seed=1)
    assert all(isinstance(parse(s.chain_text), GoTChain) for s in samples)
    openings = {s.chain_text.split("<|obj_start|>")[0] for s in samples}
    assert len(openings) >= 8


@pytest.mark.parametrize("tag", WORLD_TAGS)
def test_every_tag_round_trips_through_genevals_metadata_format(tag: str) -> None:
    sample = sample_scene(WORLD, np.random.default_rng(0), tag=tag)
    row = json.loads(json.dumps(sample.spec.to_geneval()))
    assert SceneSpec.from_geneval(row) == sample.spec
    assert row["tag"] == tag and row["prompt"].startswith("a photo of ")


def test_geneval_shapes_of_position_and_counting() -> None:
    rng = np.random.default_rng(3)
    position = sample_scene(WORLD, rng, tag="position").spec.to_geneval()
    assert "position" not in position["include"][0] and position["include"][1]["position"][1] == 0
    counting = sample_scene(WORLD, rng, tag="counting").spec.to_geneval()
    assert counting["exclude"] == [
        {"class": counting["include"][0]["class"], "count": counting["include"][0]["count"] + 1}
    ]


def test_detector_recovers_the_layout_exactly() -> None:
    codec = WORLD.codec()
    for sample in sample_dataset(WORLD, 300, seed=2):
        found = sorted((d.cls, d.color, d.box.as_tuple()) for d in detect(sample.grid, codec))
        planned = sorted((p.cls, p.color, p.box(WORLD.grid_size).as_tuple()) for p in sample.layout)
        assert found == planned


def test_painter_reproduces_the_world_image_from_the_plan() -> None:
    codec = WORLD.codec()
    for sample in sample_dataset(WORLD, 200, seed=4):
        chain = parse(sample.chain_text)
        assert isinstance(chain, GoTChain)
        assert np.array_equal(paint(chain.objects, codec), sample.grid)


def test_cells_to_box_hand_computed() -> None:
    assert cells_to_box(0, 0, 2, 3, 8).as_tuple() == (0, 0, 374, 249)
    assert cells_to_box(6, 7, 8, 8, 8).as_tuple() == (875, 750, 999, 999)


def test_phrase_to_object() -> None:
    codec = WorldConfig(classes=("dog", "teddy bear", "bear")).codec()
    assert phrase_to_object("red dog", codec) == ("red", "dog")
    assert phrase_to_object("teddy bear", codec) == (None, "teddy bear")
    assert phrase_to_object("brown bear", codec) == ("brown", "bear")
    assert phrase_to_object("plaid dog", codec) is None
    assert phrase_to_object("unicorn", codec) is None


def test_config_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="outside GenEval's 80"):
        WorldConfig(classes=("dog", "cat", "unicorn"))
    with pytest.raises(ValueError, match="unknown tags"):
        WorldConfig(tag_weights={"nope": 1.0})
    assert len(WorldConfig(classes="all").class_names) == 80
    assert WorldConfig.from_dict(WORLD.to_dict()) == WORLD


def test_curated_data_is_what_the_data_stage_trains_on() -> None:
    from gotr1.data.curation import prompt_key
    from gotr1.embedded import EmbeddedConfig, curated_data, eval_specs, rl_prompts, sft_examples

    config = EmbeddedConfig.smoke()
    examples, prompts = curated_data(config)
    held_out = {prompt_key(s.prompt) for s in eval_specs(config)}
    assert examples and prompts
    assert not {prompt_key(e.prompt) for e in examples} & held_out
    assert not {prompt_key(p.prompt) for p in prompts} & held_out
    # everything else is kept, once
    kept = [e for e in sft_examples(config) if prompt_key(e.prompt) not in held_out]
    assert {(e.prompt, e.chain) for e in examples} == {(e.prompt, e.chain) for e in kept}
    assert len(examples) == len({(e.prompt, e.chain) for e in examples})
    assert [p.prompt for p in prompts] == [
        p.prompt for p in rl_prompts(config) if prompt_key(p.prompt) not in held_out
    ]

"""Scene specs from T2I-R1's tags: each task type by hand, and agreement with the prompt parser on the public file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.scenes.spec import ExcludeSpec, ObjectSpec, SceneSpec
from gotr1.scenes.t2i_r1 import spec_from_tags


def test_spatial_rows_place_obj1_relative_to_obj2_as_geneval_does() -> None:
    row = {
        "prompt": "a photo of a car below a zebra",
        "task_type": "spatial",
        "nouns": ["car", "zebra"],
        "spatial_info": {"obj1": "car", "obj2": "zebra", "locality": "below"},
    }
    expected = SceneSpec(
        "position", row["prompt"], (ObjectSpec("zebra"), ObjectSpec("car", position=("below", 0)))
    )
    assert spec_from_tags(row) == expected == parse_prompt(row["prompt"])
    compbench = {**row, "prompt": "a horse on the right of a man"}
    compbench["spatial_info"] = {"obj1": "horse", "obj2": "man", "locality": "on the right of"}
    assert spec_from_tags(compbench) == SceneSpec(
        "position", compbench["prompt"], (ObjectSpec("man"), ObjectSpec("horse", position=("right of", 0)))
    )
    near = {**row, "spatial_info": {"obj1": "car", "obj2": "zebra", "locality": "near"}}
    assert spec_from_tags(near) is None  # GenEval has no rule for "near"


def test_numeracy_colour_and_object_rows() -> None:
    four = {
        "prompt": "four trucks",
        "task_type": "numeracy",
        "numeracy_info": [{"obj_name": "truck", "num": 4}],
    }
    assert spec_from_tags(four) == SceneSpec(
        "counting", "four trucks", (ObjectSpec("truck", 4),), (ExcludeSpec("truck", 5),)
    )
    mixed = {
        "prompt": "two cats and one dog",
        "task_type": "numeracy",
        "numeracy_info": [{"obj_name": "cat", "num": 2}, {"obj_name": "dog", "num": 1}],
    }
    spec = spec_from_tags(mixed)
    assert spec is not None and spec.include == (ObjectSpec("cat", 2), ObjectSpec("dog", 1))
    assert spec.exclude == (ExcludeSpec("cat", 3), ExcludeSpec("dog", 2))
    colour = {
        "prompt": "a photo of a purple elephant and a blue teddy bear",
        "task_type": "color",
        "attr_nouns": ["purple elephant", "blue teddy bear"],
    }
    assert spec_from_tags(colour) == parse_prompt(colour["prompt"])
    assert spec_from_tags({**colour, "attr_nouns": ["red car", "gold clock"]}) is None  # gold: not GenEval's
    assert spec_from_tags({**colour, "attr_nouns": ["jar"]}) is None
    pair = {
        "prompt": "a photo of a computer keyboard and a cat",
        "task_type": "object",
        "nouns": ["computer keyboard", "cat"],
    }
    assert spec_from_tags(pair) == parse_prompt(pair["prompt"])
    assert spec_from_tags({"prompt": "a spherical ball", "task_type": "shape", "nouns": ["ball"]}) is None


def test_malformed_tags_name_the_row() -> None:
    with pytest.raises(ValueError, match=r"a photo of a car.*spatial.*malformed"):
        spec_from_tags(
            {"prompt": "a photo of a car", "task_type": "spatial", "spatial_info": {"obj1": "car"}}
        )
    with pytest.raises(ValueError, match="numeracy"):
        spec_from_tags(
            {"prompt": "zero cats", "task_type": "numeracy", "numeracy_info": [{"obj_name": "cat", "num": 0}]}
        )


def test_tags_agree_with_the_parser_on_the_public_file(shared_data: Path) -> None:
    from gotr1.data.curation import load_t2i_r1_prompts

    rows = load_t2i_r1_prompts(str(shared_data / "t2i-r1" / "geneval_and_t2i_data_final.jsonl"))
    specs = [(row, spec_from_tags(row)) for row in rows]
    with_spec = [(row, spec) for row, spec in specs if spec is not None]
    compared = [(spec, parse_prompt(row["prompt"])) for row, spec in with_spec]
    compared = [(spec, parsed) for spec, parsed in compared if parsed is not None]
    disagree = [(spec, parsed) for spec, parsed in compared if spec != parsed]
    assert len(with_spec) > 4000 and len(compared) > 2000
    assert disagree == []

"""Scene specs from T2I-R1's structured tags (CaraJ7/T2I-R1, ``geneval_and_t2i_data_final.jsonl``).

Each T2I-R1 RL prompt carries ``task_type`` and tags::

    {"prompt": "a photo of a car below a zebra", "task_type": "spatial", "nouns": ["car", "zebra"],
     "spatial_info": {"obj1": "car", "obj2": "zebra", "locality": "below"}}
    {"prompt": "a photo of four coasters", "task_type": "numeracy", "nouns": ["coaster"],
     "numeracy_info": [{"obj_name": "coaster", "num": 4}]}
    {"prompt": "a photo of a purple elephant and a blue teddy bear", "task_type": "color",
     "nouns": ["elephant", "teddy bear"], "attr_nouns": ["purple elephant", "blue teddy bear"]}
    {"prompt": "a photo of a computer keyboard and a cat", "task_type": "object", "nouns": [...]}

The four GenEval-style task types map onto GenEval's metadata format exactly as GenEval writes its own prompts
(``position``: the anchor ``obj2`` first, ``obj1`` placed relative to it; ``counting``: an ``exclude`` of one
more than each count). T2I-CompBench's own prompts of those types map too where GenEval's rules can check them:
its 2D relations ``on the left of``, ``on the right of``, ``on the top of``, ``on the bottom of`` are GenEval's
four (T2I-CompBench also scores them by comparing object positions), and its colour prompts when every colour is
one of GenEval's ten. Relations GenEval has no rule for (``near``, ``next to``, ``on side of``), other colours
(``gold``) and the open-scene types (``shape``, ``texture``, ``non``, ``complex``) get no spec: no exact check
exists for them. On T2I-R1's 2,372 GenEval-style prompts the specs built
from the tags equal the ones :func:`gotr1.scenes.prompt_parser.parse_prompt` reads from the text wherever the
parser knows the classes (``tests/scenes/test_t2i_r1.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gotr1.scenes.spec import COLORS, RELATIONS, ExcludeSpec, ObjectSpec, SceneSpec

__all__ = ["GENEVAL_STYLE_TASKS", "LOCALITIES", "spec_from_tags"]

GENEVAL_STYLE_TASKS: tuple[str, ...] = ("spatial", "numeracy", "color", "object")
# T2I-R1's ``locality`` -> GenEval's relation (GenEval's own four, and T2I-CompBench's 2D phrasing of them).
LOCALITIES: dict[str, str] = {
    **{r: r for r in RELATIONS},
    "on the left of": "left of",
    "on the right of": "right of",
    "on the top of": "above",
    "on the bottom of": "below",
}


def _colored(attr_noun: str) -> ObjectSpec | None:
    """``"<colour> <class>"`` -> the object; ``None`` unless the first word is one of GenEval's colours and a class
    follows (T2I-CompBench's open colour prompts tag phrases such as ``"jar"`` or ``"gold clock"``)."""
    color, _, cls = attr_noun.strip().partition(" ")
    return ObjectSpec(cls.strip(), 1, color) if color in COLORS and cls.strip() else None


def spec_from_tags(row: Mapping[str, Any]) -> SceneSpec | None:
    """The scene spec of one T2I-R1 row from its tags, or ``None`` for a task type GenEval cannot check.

    Raises:
        ValueError: a GenEval-style row whose tags are malformed (the message names the field and the prompt).
    """
    task, prompt = row.get("task_type"), str(row.get("prompt", ""))
    if task not in GENEVAL_STYLE_TASKS:
        return None
    try:
        if task == "spatial":
            info = row["spatial_info"]
            relation = LOCALITIES.get(str(info["locality"]))
            if relation is None:
                return None
            anchor, subject = (
                ObjectSpec(str(info["obj2"])),
                ObjectSpec(str(info["obj1"]), position=(relation, 0)),
            )
            return SceneSpec("position", prompt, (anchor, subject))
        if task == "numeracy":
            counted = [ObjectSpec(str(c["obj_name"]), int(c["num"])) for c in row["numeracy_info"]]
            if len(counted) == 1 and counted[0].count == 1:
                return SceneSpec("single_object", prompt, tuple(counted))
            exclude = tuple(ExcludeSpec(o.cls, o.count + 1) for o in counted)
            return SceneSpec("counting", prompt, tuple(counted), exclude)
        if task == "color":
            colored = [_colored(str(a)) for a in row["attr_nouns"]]
            objects = tuple(o for o in colored if o is not None)
            if len(objects) < len(colored):
                return None
            return SceneSpec("colors" if len(objects) == 1 else "color_attr", prompt, objects)
        objects = tuple(ObjectSpec(str(n)) for n in row["nouns"])
        return SceneSpec("single_object" if len(objects) == 1 else "two_object", prompt, objects)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"T2I-R1 row {prompt!r} ({task}): malformed tags: {err}") from err

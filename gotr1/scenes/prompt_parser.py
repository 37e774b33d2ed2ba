"""A rule-based parser for GenEval-style prompts -> :class:`SceneSpec` in GenEval's metadata format.

Handles GenEval's six templates (and the world's combinations of them)::

    a photo of a bench                              single_object
    a photo of a bench and a sports ball            two_object
    a photo of two clocks                           counting     (include count 2, exclude count 3)
    a photo of a blue fire hydrant                  colors
    a photo of a dog right of a teddy bear          position     (anchor first, positioned object second)
    a photo of a purple wine glass and a black apple  color_attr

Returns ``None`` when the prompt is not of these shapes or names a class outside the vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

from gotr1.scenes.spec import COLORS, RELATIONS, ExcludeSpec, ObjectSpec, SceneSpec
from gotr1.scenes.vocab import GENEVAL_CLASSES, NUMBER_WORDS, plural

__all__ = ["parse_prompt"]

_NUMBERS = {w: n for n, w in NUMBER_WORDS.items()}
_PREFIX = "a photo of "


def _noun_phrase(text: str, classes: Sequence[str]) -> tuple[int, str | None, str] | None:
    """``"a purple wine glass"`` -> (1, "purple", "wine glass"); ``"three clocks"`` -> (3, None, "clock")."""
    words = text.strip().split(" ", 1)
    if len(words) != 2:
        return None
    head, rest = words
    if head in ("a", "an"):
        count = 1
    elif head in _NUMBERS:
        count = _NUMBERS[head]
    else:
        return None
    color = None
    first, _, remainder = rest.partition(" ")
    if first in COLORS and remainder:
        color, rest = first, remainder
    for cls in classes:
        if rest == cls or (count > 1 and rest == plural(cls)):
            return count, color, cls
    return None


def parse_prompt(prompt: str, classes: Sequence[str] = GENEVAL_CLASSES) -> SceneSpec | None:
    """The scene spec of a GenEval-style prompt, or ``None``."""
    text = prompt.strip().lower()
    if not text.startswith(_PREFIX):
        return None
    body = text[len(_PREFIX) :]
    for relation in RELATIONS:
        subject, sep, anchor = body.partition(f" {relation} ")
        if sep:
            a, b = _noun_phrase(subject, classes), _noun_phrase(anchor, classes)
            if a is None or b is None or a[0] != 1 or b[0] != 1:
                return None
            tag = "position" if a[1] is None and b[1] is None else "color_position"
            return SceneSpec(
                tag, prompt, (ObjectSpec(b[2], 1, b[1]), ObjectSpec(a[2], 1, a[1], (relation, 0)))
            )
    parts = [p for chunk in body.split(" and ") for p in chunk.split(", ")]
    phrases = [_noun_phrase(p, classes) for p in parts]
    if not phrases or any(p is None for p in phrases) or len(phrases) > 3:
        return None
    objects = tuple(ObjectSpec(cls, count, color) for count, color, cls in phrases if cls)  # type: ignore[misc]
    if len(objects) == 1:
        (obj,) = objects
        if obj.count > 1:
            tag = "count_color" if obj.color else "counting"
            return SceneSpec(tag, prompt, objects, (ExcludeSpec(obj.cls, obj.count + 1),))
        return SceneSpec("colors" if obj.color else "single_object", prompt, objects)
    if any(o.count > 1 for o in objects):
        return None
    if len(objects) == 3:
        return SceneSpec("three_object", prompt, objects)
    colored = [o.color is not None for o in objects]
    if all(colored):
        return SceneSpec("color_attr", prompt, objects)
    return SceneSpec("two_object", prompt, objects) if not any(colored) else None

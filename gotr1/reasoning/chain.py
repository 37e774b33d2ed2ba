"""The GoT reasoning chain: typed form, parser and renderer (GOT-R1-FACTS.md section 1).

A chain is prose with grounded objects::

    A <|obj_start|>dog<|obj_end|> <|box_start|>(0,250),(374,624)<|box_end|> sits left of ...<begin_of_image>

- exactly one space between ``<|obj_end|>`` and ``<|box_start|>``;
- coordinates are integers in [0, 1000), no spaces, top-left then bottom-right, ``x1 < x2`` and ``y1 < y2``;
- the chain ends with ``<begin_of_image>`` (image tokens follow it in the same sequence).

``parse`` never raises on model output: it returns a :class:`GoTChain` or a :class:`ParseFailure` that says what
is wrong and at which character. ``render`` is its byte-exact inverse: ``parse(render(c)) == c``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "BEGIN_OF_IMAGE",
    "BOX_END",
    "BOX_START",
    "COORD_RANGE",
    "GOT_TOKENS",
    "OBJ_END",
    "OBJ_START",
    "Box",
    "FailureKind",
    "GoTChain",
    "GroundedObject",
    "ParseFailure",
    "parse",
    "render",
]

OBJ_START = "<|obj_start|>"
OBJ_END = "<|obj_end|>"
BOX_START = "<|box_start|>"
BOX_END = "<|box_end|>"
BEGIN_OF_IMAGE = "<begin_of_image>"
GOT_TOKENS: tuple[str, ...] = (OBJ_START, OBJ_END, BOX_START, BOX_END)
COORD_RANGE = 1000  # coordinates live in [0, COORD_RANGE)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box on the [0, 1000) canvas: top-left (x1, y1), bottom-right (x2, y2)."""

    x1: int
    y1: int
    x2: int
    y2: int

    def __post_init__(self) -> None:
        for name in ("x1", "y1", "x2", "y2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Box.{name} must be an int, got {value!r}")
            if not 0 <= value < COORD_RANGE:
                raise ValueError(f"Box.{name}={value} is outside [0, {COORD_RANGE})")
        if self.x1 >= self.x2 or self.y1 >= self.y2:
            raise ValueError(f"Box needs x1 < x2 and y1 < y2, got {self.as_tuple()}")

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def area(self) -> int:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)


@dataclass(frozen=True, slots=True)
class GroundedObject:
    """A noun phrase the chain grounds with a box."""

    phrase: str
    box: Box

    def __post_init__(self) -> None:
        if not self.phrase.strip():
            raise ValueError("GroundedObject.phrase must not be empty")
        if any(tok in self.phrase for tok in (*GOT_TOKENS, BEGIN_OF_IMAGE)):
            raise ValueError(f"GroundedObject.phrase must not contain chain tokens: {self.phrase!r}")


Segment = str | GroundedObject


@dataclass(frozen=True, slots=True)
class GoTChain:
    """A parsed chain: prose segments and grounded objects in order.

    Attributes:
        segments: prose (``str``, never empty, never containing chain tokens) and :class:`GroundedObject`
            items in reading order. Two prose segments are never adjacent.
        ends_with_image: whether the text ended with ``<begin_of_image>``.
    """

    segments: tuple[Segment, ...]
    ends_with_image: bool = True

    def __post_init__(self) -> None:
        previous_was_prose = False
        for seg in self.segments:
            if isinstance(seg, str):
                if not seg:
                    raise ValueError("GoTChain prose segments must not be empty")
                if previous_was_prose:
                    raise ValueError("GoTChain must not hold two adjacent prose segments; join them")
                if any(tok in seg for tok in (*GOT_TOKENS, BEGIN_OF_IMAGE)):
                    raise ValueError(f"GoTChain prose must not contain chain tokens: {seg!r}")
                previous_was_prose = True
            elif isinstance(seg, GroundedObject):
                previous_was_prose = False
            else:
                raise TypeError(f"GoTChain segment must be str or GroundedObject, got {type(seg).__name__}")

    @property
    def objects(self) -> tuple[GroundedObject, ...]:
        return tuple(s for s in self.segments if isinstance(s, GroundedObject))

    @property
    def text_without_boxes(self) -> str:
        """The chain as prose, grounded phrases inline and boxes dropped (the R_sem judge input)."""
        return "".join(s if isinstance(s, str) else s.phrase for s in self.segments)


class FailureKind(enum.Enum):
    UNBALANCED_TAGS = "unbalanced_tags"
    MALFORMED_COORDINATES = "malformed_coordinates"
    OUT_OF_RANGE = "out_of_range"
    INVERTED_BOX = "inverted_box"
    EMPTY_PHRASE = "empty_phrase"
    MISSING_BEGIN_OF_IMAGE = "missing_begin_of_image"
    TEXT_AFTER_BEGIN_OF_IMAGE = "text_after_begin_of_image"


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """Why a text is not a valid chain, and the character offset where the problem starts."""

    kind: FailureKind
    position: int
    message: str

    def __str__(self) -> str:
        return f"{self.kind.value} at char {self.position}: {self.message}"


_TAG = re.compile(r"<\|(?:obj_start|obj_end|box_start|box_end)\|>")
_COORDS = re.compile(r"\((-?\d+),(-?\d+)\),\((-?\d+),(-?\d+)\)")


def parse(text: str, *, require_begin_of_image: bool = True) -> GoTChain | ParseFailure:
    """Parse model output into a :class:`GoTChain`, or say what is wrong and where.

    Args:
        text: the decoded chain. Anything after ``<begin_of_image>`` is an error.
        require_begin_of_image: if true, a text without ``<begin_of_image>`` is a failure.

    Returns:
        The chain, or a :class:`ParseFailure`. Never raises on a ``str`` input.

    Raises:
        TypeError: if ``text`` is not a ``str`` (misuse, not model output).
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects str, got {type(text).__name__}")
    body = text
    ends_with_image = False
    boi = text.find(BEGIN_OF_IMAGE)
    if boi >= 0:
        tail = boi + len(BEGIN_OF_IMAGE)
        if tail != len(text):
            return ParseFailure(
                FailureKind.TEXT_AFTER_BEGIN_OF_IMAGE, tail, f"{text[tail : tail + 20]!r} follows"
            )
        body, ends_with_image = text[:boi], True
    elif require_begin_of_image:
        return ParseFailure(FailureKind.MISSING_BEGIN_OF_IMAGE, len(text), "the chain does not end with it")

    segments: list[Segment] = []
    pos = 0
    while pos < len(body):
        start = body.find(OBJ_START, pos)
        stray = _TAG.search(body, pos, start if start >= 0 else len(body))
        if stray:
            return ParseFailure(
                FailureKind.UNBALANCED_TAGS, stray.start(), f"{stray.group()} outside an object"
            )
        if start < 0:
            segments.append(body[pos:])
            break
        if start > pos:
            segments.append(body[pos:start])
        result = _parse_object(body, start)
        if isinstance(result, ParseFailure):
            return result
        obj, pos = result
        segments.append(obj)
    return GoTChain(tuple(segments), ends_with_image)


def _parse_object(body: str, start: int) -> tuple[GroundedObject, int] | ParseFailure:
    """Parse ``<|obj_start|>phrase<|obj_end|> <|box_start|>(x1,y1),(x2,y2)<|box_end|>`` at ``start``."""
    phrase_at = start + len(OBJ_START)
    end = body.find(OBJ_END, phrase_at)
    inner_tag = _TAG.search(body, phrase_at, end if end >= 0 else len(body))
    if end < 0 or inner_tag:
        at = inner_tag.start() if inner_tag else start
        return ParseFailure(FailureKind.UNBALANCED_TAGS, at, f"{OBJ_START} is not closed by {OBJ_END}")
    phrase = body[phrase_at:end]
    if not phrase.strip():
        return ParseFailure(FailureKind.EMPTY_PHRASE, phrase_at, "grounded phrase is empty")
    box_open = end + len(OBJ_END)
    expected = " " + BOX_START
    if not body.startswith(expected, box_open):
        return ParseFailure(
            FailureKind.UNBALANCED_TAGS, box_open, f"{OBJ_END} must be followed by ' {BOX_START}'"
        )
    coords_at = box_open + len(expected)
    box_close = body.find(BOX_END, coords_at)
    inner_tag = _TAG.search(body, coords_at, box_close if box_close >= 0 else len(body))
    if box_close < 0 or inner_tag:
        at = inner_tag.start() if inner_tag else box_open
        return ParseFailure(FailureKind.UNBALANCED_TAGS, at, f"{BOX_START} is not closed by {BOX_END}")
    coords = body[coords_at:box_close]
    match = _COORDS.fullmatch(coords)
    if match is None:
        return ParseFailure(
            FailureKind.MALFORMED_COORDINATES, coords_at, f"{coords!r} is not '(x1,y1),(x2,y2)' with integers"
        )
    x1, y1, x2, y2 = (int(v) for v in match.groups())
    if not all(0 <= v < COORD_RANGE for v in (x1, y1, x2, y2)):
        return ParseFailure(FailureKind.OUT_OF_RANGE, coords_at, f"{coords} has a value outside [0, 1000)")
    if x1 >= x2 or y1 >= y2:
        return ParseFailure(FailureKind.INVERTED_BOX, coords_at, f"{coords} needs x1 < x2 and y1 < y2")
    return GroundedObject(phrase, Box(x1, y1, x2, y2)), box_close + len(BOX_END)


def render_object(obj: GroundedObject) -> str:
    b = obj.box
    return f"{OBJ_START}{obj.phrase}{OBJ_END} {BOX_START}({b.x1},{b.y1}),({b.x2},{b.y2}){BOX_END}"


def render(chain: GoTChain) -> str:
    """Render a chain to text in the exact GoT-R1 format (inverse of :func:`parse`)."""
    text = "".join(s if isinstance(s, str) else render_object(s) for s in chain.segments)
    return text + BEGIN_OF_IMAGE if chain.ends_with_image else text

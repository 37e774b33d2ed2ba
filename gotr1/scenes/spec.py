"""Scene specs in GenEval's metadata format.

GenEval (djghosh13/geneval, ``evaluation_metadata.jsonl``) describes what an image must contain::

    {"tag": "position", "prompt": "a photo of a dog right of a teddy bear",
     "include": [{"class": "teddy bear", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}]}

``position: [relation, index]`` means "this object is <relation> the object ``include[index]``". ``exclude``
(counting prompts) says that more than ``count - 1`` instances of a class is wrong: ``{"class": "clock",
"count": 4}`` in ``exclude`` means "fewer than 4 clocks".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["COLORS", "RELATIONS", "TAGS", "ExcludeSpec", "ObjectSpec", "SceneSpec"]

COLORS: tuple[str, ...] = (
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
)
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
TAGS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One required object: ``count`` instances of ``cls``, optionally coloured and placed relative to another."""

    cls: str
    count: int = 1
    color: str | None = None
    position: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if not self.cls.strip():
            raise ValueError("ObjectSpec.cls must not be empty")
        if self.count < 1:
            raise ValueError(f"ObjectSpec.count must be >= 1, got {self.count} for {self.cls!r}")
        if self.color is not None and self.color not in COLORS:
            raise ValueError(f"ObjectSpec.color {self.color!r} is not one of {COLORS}")
        if self.position is not None:
            relation, index = self.position
            if relation not in RELATIONS:
                raise ValueError(f"ObjectSpec.position relation {relation!r} is not one of {RELATIONS}")
            if index < 0:
                raise ValueError(f"ObjectSpec.position index must be >= 0, got {index}")

    def to_geneval(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "count": self.count}
        if self.color is not None:
            out["color"] = self.color
        if self.position is not None:
            out["position"] = [self.position[0], self.position[1]]
        return out

    @classmethod
    def from_geneval(cls, row: Mapping[str, Any]) -> ObjectSpec:
        position = row.get("position")
        return cls(
            cls=str(row["class"]),
            count=int(row.get("count", 1)),
            color=row.get("color"),
            position=(str(position[0]), int(position[1])) if position else None,
        )


@dataclass(frozen=True, slots=True)
class ExcludeSpec:
    """``count`` or more instances of ``cls`` is wrong (GenEval's counting prompts)."""

    cls: str
    count: int

    def to_geneval(self) -> dict[str, Any]:
        return {"class": self.cls, "count": self.count}


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """What a prompt asks for, in GenEval's metadata format.

    Attributes:
        tag: GenEval tag or one of the world's extra tags (e.g. ``color_position``, ``count_color``, ``three_object``).
        prompt: the text prompt.
        include: required objects; ``position`` indices point into this tuple.
        exclude: upper bounds (counting prompts).
    """

    tag: str
    prompt: str
    include: tuple[ObjectSpec, ...]
    exclude: tuple[ExcludeSpec, ...] = ()

    def __post_init__(self) -> None:
        if not self.include:
            raise ValueError(f"SceneSpec for {self.prompt!r} has no objects")
        for i, obj in enumerate(self.include):
            if obj.position is not None and not (
                0 <= obj.position[1] < len(self.include) and obj.position[1] != i
            ):
                raise ValueError(
                    f"SceneSpec {self.prompt!r}: include[{i}].position points to {obj.position[1]}"
                )

    def to_geneval(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tag": self.tag,
            "include": [o.to_geneval() for o in self.include],
        }
        if self.exclude:
            out["exclude"] = [e.to_geneval() for e in self.exclude]
        out["prompt"] = self.prompt
        return out

    @classmethod
    def from_geneval(cls, row: Mapping[str, Any]) -> SceneSpec:
        """Build from one GenEval metadata row; raises ``ValueError`` naming the field that is wrong."""
        try:
            include: Sequence[Mapping[str, Any]] = row["include"]
            return cls(
                tag=str(row.get("tag", "")),
                prompt=str(row["prompt"]),
                include=tuple(ObjectSpec.from_geneval(o) for o in include),
                exclude=tuple(ExcludeSpec(str(e["class"]), int(e["count"])) for e in row.get("exclude", ())),
            )
        except (KeyError, TypeError, IndexError) as err:
            raise ValueError(f"not a GenEval metadata row ({err!r}): {dict(row)!r}") from err

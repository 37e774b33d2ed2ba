"""The synthetic world: scene specs, layouts, GoT chains and grid images that are exactly checkable.

A :class:`Sample` is a GenEval-style prompt with its scene spec, a layout that satisfies it, the GoT chain that
plans the layout (the exact GoT-R1 token format) and the image painted from that plan on a G x G grid. The data
set of ``n`` samples is a pure function of ``(config, n, seed)``.

Default vocabulary: 8 of GenEval's 80 classes x 10 colours. A throwaway probe on this 2-core CPU showed a tiny
model trained from scratch learns the chain for all 80 classes in minutes but only 1.6% of the 800-way
(class, colour) image cells in 10 minutes, while with 8 classes it learned images exactly in 6 minutes; the full
vocabulary is one setting away (``WorldConfig(classes="all")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gotr1.reasoning.chain import Box, GoTChain, GroundedObject, Segment, render
from gotr1.scenes.relations import relation_holds
from gotr1.scenes.spec import COLORS, RELATIONS, ExcludeSpec, ObjectSpec, SceneSpec
from gotr1.scenes.vocab import GENEVAL_CLASSES, NUMBER_WORDS, article, plural
from gotr1.synthetic.codec import GridCodec

__all__ = [
    "DEFAULT_CLASSES",
    "WORLD_TAGS",
    "PlacedObject",
    "Sample",
    "WorldConfig",
    "cells_to_box",
    "sample_dataset",
    "sample_for_spec",
    "sample_scene",
]

DEFAULT_CLASSES: tuple[str, ...] = ("dog", "cat", "car", "apple", "clock", "cup", "chair", "bird")
# GenEval's six tags plus the combinations GenEval lacks.
WORLD_TAGS: tuple[str, ...] = (
    "single_object",
    "two_object",
    "counting",
    "colors",
    "position",
    "color_attr",
    "color_position",
    "count_color",
    "three_object",
)


@dataclass(frozen=True)
class WorldConfig:
    """The synthetic world's vocabulary and sizes.

    Attributes:
        grid_size: G, image side in cells (the image has G * G tokens).
        classes: object classes, or ``"all"`` for GenEval's 80.
        colors: colours (GenEval's 10 by default).
        max_count: the largest count a counting prompt asks for (GenEval uses 2-4).
        tag_weights: sampling weight per tag (missing tags get weight 0).
    """

    grid_size: int = 8
    classes: tuple[str, ...] | str = DEFAULT_CLASSES
    colors: tuple[str, ...] = COLORS
    max_count: int = 4
    tag_weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WORLD_TAGS, 1.0))

    def __post_init__(self) -> None:
        if self.classes == "all":
            object.__setattr__(self, "classes", GENEVAL_CLASSES)
        if isinstance(self.classes, str):
            raise ValueError(
                f"WorldConfig.classes must be a tuple of class names or 'all', got {self.classes!r}"
            )
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "colors", tuple(self.colors))
        unknown = [c for c in self.classes if c not in GENEVAL_CLASSES]
        if unknown:
            raise ValueError(f"WorldConfig.classes has names outside GenEval's 80 classes: {unknown}")
        if len(self.classes) < 3:
            raise ValueError("WorldConfig.classes needs at least 3 classes (three_object scenes)")
        bad_colors = [c for c in self.colors if c not in COLORS]
        if bad_colors or len(self.colors) < 2:
            raise ValueError(f"WorldConfig.colors must be >= 2 of {COLORS}, got {self.colors}")
        if not 4 <= self.grid_size <= 64:
            raise ValueError(f"WorldConfig.grid_size must be in [4, 64], got {self.grid_size}")
        if not 2 <= self.max_count <= 4:
            raise ValueError(f"WorldConfig.max_count must be in [2, 4], got {self.max_count}")
        bad_tags = sorted(set(self.tag_weights) - set(WORLD_TAGS))
        if bad_tags:
            raise ValueError(f"WorldConfig.tag_weights has unknown tags {bad_tags}; known: {WORLD_TAGS}")
        if any(w < 0 for w in self.tag_weights.values()) or sum(self.tag_weights.values()) <= 0:
            raise ValueError("WorldConfig.tag_weights must be non-negative with a positive sum")

    @property
    def class_names(self) -> tuple[str, ...]:
        assert isinstance(self.classes, tuple)
        return self.classes

    def codec(self) -> GridCodec:
        return GridCodec.build(self.grid_size, self.class_names, self.colors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid_size": self.grid_size,
            "classes": list(self.class_names),
            "colors": list(self.colors),
            "max_count": self.max_count,
            "tag_weights": dict(self.tag_weights),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldConfig:
        known = {"grid_size", "classes", "colors", "max_count", "tag_weights"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"WorldConfig: unknown keys {unknown}; known: {sorted(known)}")
        kwargs = dict(data)
        if isinstance(kwargs.get("classes"), list):
            kwargs["classes"] = tuple(kwargs["classes"])
        if isinstance(kwargs.get("colors"), list):
            kwargs["colors"] = tuple(kwargs["colors"])
        return cls(**kwargs)


@dataclass(frozen=True)
class PlacedObject:
    """One object instance of a layout: its class, colour and cell span ``[r0, r1) x [c0, c1)``."""

    cls: str
    color: str
    r0: int
    c0: int
    r1: int
    c1: int

    def box(self, grid_size: int) -> Box:
        return cells_to_box(self.r0, self.c0, self.r1, self.c1, grid_size)

    @property
    def phrase(self) -> str:
        return f"{self.color} {self.cls}"


@dataclass(frozen=True)
class Sample:
    """A prompt, its scene spec, the planned layout, the GoT chain and the painted ``[G, G]`` grid."""

    spec: SceneSpec
    layout: tuple[PlacedObject, ...]
    chain_text: str
    grid: np.ndarray

    @property
    def prompt(self) -> str:
        return self.spec.prompt


def cells_to_box(r0: int, c0: int, r1: int, c1: int, grid_size: int) -> Box:
    """Cell span ``[r0, r1) x [c0, c1)`` -> box on the [0, 1000) canvas (x2 = c1 * 1000 // G - 1)."""
    return Box(
        c0 * 1000 // grid_size, r0 * 1000 // grid_size, c1 * 1000 // grid_size - 1, r1 * 1000 // grid_size - 1
    )


# ---------------------------------------------------------------------------------------------- scene specs
def _spec_for_tag(tag: str, config: WorldConfig, rng: np.random.Generator) -> SceneSpec:
    classes, colors = config.class_names, config.colors

    def pick(k: int) -> list[str]:
        return [classes[i] for i in rng.choice(len(classes), size=k, replace=False)]

    def color() -> str:
        return colors[int(rng.integers(len(colors)))]

    def a(noun: str) -> str:
        return f"{article(noun)} {noun}"

    relation = RELATIONS[int(rng.integers(len(RELATIONS)))]
    n = int(rng.integers(2, config.max_count + 1))
    if tag == "single_object":
        (x,) = pick(1)
        return SceneSpec(tag, f"a photo of {a(x)}", (ObjectSpec(x),))
    if tag == "two_object":
        x, y = pick(2)
        return SceneSpec(tag, f"a photo of {a(x)} and {a(y)}", (ObjectSpec(x), ObjectSpec(y)))
    if tag == "three_object":
        x, y, z = pick(3)
        return SceneSpec(
            tag, f"a photo of {a(x)}, {a(y)} and {a(z)}", (ObjectSpec(x), ObjectSpec(y), ObjectSpec(z))
        )
    if tag == "counting":
        (x,) = pick(1)
        return SceneSpec(
            tag, f"a photo of {NUMBER_WORDS[n]} {plural(x)}", (ObjectSpec(x, n),), (ExcludeSpec(x, n + 1),)
        )
    if tag == "count_color":
        (x,) = pick(1)
        c = color()
        return SceneSpec(
            tag,
            f"a photo of {NUMBER_WORDS[n]} {c} {plural(x)}",
            (ObjectSpec(x, n, c),),
            (ExcludeSpec(x, n + 1),),
        )
    if tag == "colors":
        (x,) = pick(1)
        c = color()
        return SceneSpec(tag, f"a photo of {a(c + ' ' + x)}", (ObjectSpec(x, 1, c),))
    if tag == "color_attr":
        x, y = pick(2)
        cx, cy = color(), color()
        return SceneSpec(
            tag,
            f"a photo of {a(cx + ' ' + x)} and {a(cy + ' ' + y)}",
            (ObjectSpec(x, 1, cx), ObjectSpec(y, 1, cy)),
        )
    if tag == "position":
        # GenEval's metadata lists the anchor first and the positioned object second.
        x, anchor = pick(2)
        return SceneSpec(
            tag,
            f"a photo of {a(x)} {relation} {a(anchor)}",
            (ObjectSpec(anchor), ObjectSpec(x, 1, None, (relation, 0))),
        )
    if tag == "color_position":
        x, anchor = pick(2)
        cx, ca = color(), color()
        return SceneSpec(
            tag,
            f"a photo of {a(cx + ' ' + x)} {relation} {a(ca + ' ' + anchor)}",
            (ObjectSpec(anchor, 1, ca), ObjectSpec(x, 1, cx, (relation, 0))),
        )
    raise ValueError(f"unknown tag {tag!r}; known: {WORLD_TAGS}")


# ---------------------------------------------------------------------------------------------- layouts
def _touches(a: PlacedObject, b: PlacedObject) -> bool:
    """Whether two cell spans overlap or share an edge (same-class instances must not, or they merge)."""
    return (
        a.r0 <= b.r1
        and b.r0 <= a.r1
        and a.c0 <= b.c1
        and b.c0 <= a.c1
        and not ((a.r0 == b.r1 or b.r0 == a.r1) and (a.c0 == b.c1 or b.c0 == a.c1))
    )


def _overlaps(a: PlacedObject, b: PlacedObject) -> bool:
    return a.r0 < b.r1 and b.r0 < a.r1 and a.c0 < b.c1 and b.c0 < a.c1


def _sample_layout(
    spec: SceneSpec, config: WorldConfig, rng: np.random.Generator, max_tries: int = 500
) -> tuple[PlacedObject, ...]:
    """Place every instance the spec asks for: no overlaps, same-class instances apart, relations hold."""
    g = config.grid_size
    instances = [(o, o.color or config.colors[int(rng.integers(len(config.colors)))]) for o in spec.include]
    total = sum(o.count for o in spec.include)
    max_side = max(1, g // 2 if total <= 2 else g // 3)
    min_side = max(1, g // 4) if total <= 2 else 1
    for _ in range(max_tries):
        placed: list[PlacedObject] = []
        owner: list[int] = []  # index into spec.include of each placed instance
        ok = True
        for idx, (obj, col) in enumerate(instances):
            for _ in range(obj.count):
                h, w = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
                r0, c0 = int(rng.integers(0, g - h + 1)), int(rng.integers(0, g - w + 1))
                cand = PlacedObject(obj.cls, col, r0, c0, r0 + h, c0 + w)
                if any(_overlaps(cand, p) or (p.cls == cand.cls and _touches(cand, p)) for p in placed):
                    ok = False
                    break
                placed.append(cand)
                owner.append(idx)
            if not ok:
                break
        if ok and _relations_hold(spec, placed, owner, g):
            return tuple(placed)
    raise RuntimeError(f"could not place a layout for {spec.prompt!r} on a {g}x{g} grid in {max_tries} tries")


def _relations_hold(spec: SceneSpec, placed: Sequence[PlacedObject], owner: Sequence[int], g: int) -> bool:
    for idx, obj in enumerate(spec.include):
        if obj.position is None:
            continue
        relation, target = obj.position
        for i in (i for i, o in enumerate(owner) if o == idx):
            for j in (j for j, o in enumerate(owner) if o == target):
                if not relation_holds(relation, placed[i].box(g), placed[j].box(g)):
                    return False
    return True


# ---------------------------------------------------------------------------------------------- chains
_OPENINGS = ("", "The image shows ", "In this scene, ", "A plain backdrop with ", "Here is ")
_CLOSINGS = (
    ".",
    " on a plain background.",
    " in a simple scene.",
    ", nothing else.",
    " against a grey backdrop.",
)
_RELATION_PHRASES = {
    "left of": ("left of", "to the left of", "on the left side of"),
    "right of": ("right of", "to the right of", "on the right side of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath"),
}
_VERBS = ("is", "sits", "stands", "appears")


def _write_chain(spec: SceneSpec, layout: Sequence[PlacedObject], g: int, rng: np.random.Generator) -> str:
    """A GoT chain for the layout: varied prose, every instance grounded as '<colour> <class>' with its box."""

    def choice(options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    def grounded(p: PlacedObject) -> GroundedObject:
        return GroundedObject(p.phrase, p.box(g))

    segments: list[Segment] = []

    def prose(text: str) -> None:
        if not text:
            return
        if segments and isinstance(segments[-1], str):
            segments[-1] = segments[-1] + text
        else:
            segments.append(text)

    opening = choice(_OPENINGS)
    positioned = next((o for o in spec.include if o.position is not None), None)
    if positioned is not None and positioned.position is not None:
        subject = next(p for p in layout if p.cls == positioned.cls)
        anchor = next(p for p in layout if p.cls == spec.include[positioned.position[1]].cls)
        first = f"{article(subject.color)} " if opening else f"{article(subject.color).capitalize()} "
        prose(opening + first)
        segments.append(grounded(subject))
        relation = choice(_RELATION_PHRASES[positioned.position[0]])
        prose(f" {choice(_VERBS)} {relation} {article(anchor.color)} ")
        segments.append(grounded(anchor))
    else:
        for k, p in enumerate(layout):
            if k == 0:
                lead = opening + (article(p.color) if opening else article(p.color).capitalize())
                prose(f"{lead} ")
            else:
                prose(f" and {article(p.color)} " if k == len(layout) - 1 else f", {article(p.color)} ")
            segments.append(grounded(p))
    prose(choice(_CLOSINGS))
    return render(GoTChain(tuple(segments), ends_with_image=True))


# ---------------------------------------------------------------------------------------------- samples
def paint_layout(layout: Sequence[PlacedObject], codec: GridCodec) -> np.ndarray:
    """Paint a layout onto a ``[G, G]`` grid of cell codes (0 = background)."""
    grid = np.zeros((codec.grid_size, codec.grid_size), dtype=np.int64)
    for p in layout:
        grid[p.r0 : p.r1, p.c0 : p.c1] = codec.code(p.cls, p.color)
    return grid


def sample_scene(config: WorldConfig, rng: np.random.Generator, tag: str | None = None) -> Sample:
    """Sample one scene (spec, layout, chain, grid); ``tag`` forces the kind of prompt."""
    if tag is None:
        tags = [t for t in WORLD_TAGS if config.tag_weights.get(t, 0.0) > 0]
        weights = np.asarray([config.tag_weights[t] for t in tags], dtype=float)
        tag = tags[int(rng.choice(len(tags), p=weights / weights.sum()))]
    return sample_for_spec(_spec_for_tag(tag, config, rng), config, rng)


def sample_for_spec(spec: SceneSpec, config: WorldConfig, rng: np.random.Generator) -> Sample:
    """A layout, chain and image that satisfy a given spec (e.g. a GenEval prompt's): the oracle plan."""
    layout = _sample_layout(spec, config, rng)
    chain = _write_chain(spec, layout, config.grid_size, rng)
    return Sample(spec, layout, chain, paint_layout(layout, config.codec()))


def sample_dataset(config: WorldConfig, n: int, seed: int) -> list[Sample]:
    """``n`` samples, a pure function of ``(config, n, seed)``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    return [sample_scene(config, rng) for _ in range(n)]

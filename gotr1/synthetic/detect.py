"""The synthetic world's exact detector and painter: grids <-> object instances.

Detection is exact because the codec is lossless: the instances of a class are the 4-connected components of
the cells that carry that class (the world never lets same-class instances touch); an instance's colour is the
majority colour of its cells, its box the cell span mapped with :func:`gotr1.synthetic.world.cells_to_box`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gotr1.reasoning.chain import Box, GroundedObject
from gotr1.synthetic.codec import GridCodec
from gotr1.synthetic.world import cells_to_box

__all__ = ["Detection", "detect", "paint", "phrase_to_object"]

_FOUR_CONNECTED = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])


@dataclass(frozen=True)
class Detection:
    """One object instance found in a grid."""

    cls: str
    color: str
    box: Box
    cells: int


def detect(grid: np.ndarray, codec: GridCodec) -> list[Detection]:
    """All object instances of a ``[G, G]`` grid, ordered by class, then top-left cell."""
    grid = np.asarray(grid)
    if grid.shape != (codec.grid_size, codec.grid_size):
        raise ValueError(f"expected a {codec.grid_size}x{codec.grid_size} grid, got shape {grid.shape}")
    n_colors = len(codec.colors)
    class_of = np.where(grid > 0, (grid - 1) // n_colors, -1)
    found: list[Detection] = []
    for k in np.unique(class_of[class_of >= 0]):
        labels, _ = ndimage.label(class_of == k, structure=_FOUR_CONNECTED)
        for label, region in enumerate(ndimage.find_objects(labels), start=1):
            rows, cols = region
            component = labels[region] == label
            codes = grid[region][component]
            color_index = Counter(((codes - 1) % n_colors).tolist()).most_common(1)[0][0]
            box = cells_to_box(rows.start, cols.start, rows.stop, cols.stop, codec.grid_size)
            found.append(
                Detection(codec.classes[int(k)], codec.colors[color_index], box, int(component.sum()))
            )
    return found


def phrase_to_object(phrase: str, codec: GridCodec) -> tuple[str | None, str] | None:
    """``"red dog"`` -> ``("red", "dog")``; ``"teddy bear"`` -> ``(None, "teddy bear")``; unknown -> ``None``.

    The class is the longest known class name the phrase ends with; what precedes it must be empty or one
    known colour.
    """
    words = phrase.strip().lower()
    for cls in sorted(codec.classes, key=len, reverse=True):
        if words == cls or words.endswith(" " + cls):
            rest = words[: -len(cls)].strip()
            if not rest:
                return None, cls
            if rest in codec.colors:
                return rest, cls
            return None
    return None


def paint(objects: Sequence[GroundedObject], codec: GridCodec) -> np.ndarray:
    """The world's painter: draw grounded objects (phrase -> class and colour, box -> cells) on a grid.

    Used by the planner + executor family at tiny size. A cell belongs to a box when the cell's centre lies
    inside it; later objects paint over earlier ones; phrases outside the vocabulary, or without a colour, are
    not painted (the executor draws only what it can name).
    """
    g = codec.grid_size
    grid = np.zeros((g, g), dtype=np.int64)
    centres = (np.arange(g) + 0.5) * 1000 / g
    for obj in objects:
        parsed = phrase_to_object(obj.phrase, codec)
        if parsed is None:
            continue
        color, cls = parsed
        if color is None:
            continue
        rows = (centres >= obj.box.y1) & (centres <= obj.box.y2)
        cols = (centres >= obj.box.x1) & (centres <= obj.box.x2)
        grid[np.ix_(rows, cols)] = codec.code(cls, color)
    return grid

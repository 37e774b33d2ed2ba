"""Spatial relations, with GenEval's own rule (djghosh13/geneval, ``evaluation/evaluate_images.py``,
``relative_position``, checked against the file; ``position_threshold`` defaults to 0.1 there).

GenEval decides "A is <relation> B" from the two detected boxes::

    offset  = center(A) - center(B)                                   # per axis (x, y)
    revised = sign(offset) * max(|offset| - 0.1 * (dim(A) + dim(B)), 0)  # POSITION_THRESHOLD = 0.1
    if all |revised| < 1e-3: no relation
    dx, dy  = revised / ||offset||
    left of: dx < -0.5, right of: dx > 0.5, above: dy < -0.5, below: dy > 0.5

so a relation needs the centres to be apart by more than 10% of the two objects' summed size along that axis,
and the direction to be mostly along that axis (y grows downwards, as in images).
"""

from __future__ import annotations

import math

from gotr1.reasoning.chain import Box

__all__ = ["POSITION_THRESHOLD", "relation_holds", "relations_between"]

POSITION_THRESHOLD = 0.1


def relations_between(a: Box, b: Box) -> frozenset[str]:
    """The set of relations "a is <relation> b" under GenEval's rule (possibly empty, possibly two)."""
    (acx, acy), (bcx, bcy) = a.center, b.center
    offset = (acx - bcx, acy - bcy)
    dims = ((a.x2 - a.x1) + (b.x2 - b.x1), (a.y2 - a.y1) + (b.y2 - b.y1))
    revised = tuple(
        math.copysign(max(abs(o) - POSITION_THRESHOLD * d, 0.0), o) for o, d in zip(offset, dims, strict=True)
    )
    if all(abs(r) < 1e-3 for r in revised):
        return frozenset()
    norm = math.hypot(*offset)
    dx, dy = revised[0] / norm, revised[1] / norm
    found = set()
    if dx < -0.5:
        found.add("left of")
    if dx > 0.5:
        found.add("right of")
    if dy < -0.5:
        found.add("above")
    if dy > 0.5:
        found.add("below")
    return frozenset(found)


def relation_holds(relation: str, a: Box, b: Box) -> bool:
    """Whether "a is ``relation`` b" under GenEval's rule."""
    return relation in relations_between(a, b)

"""Box geometry on the [0, 1000) canvas: IoU, pixel conversion, matching planned objects to found ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gotr1.reasoning.chain import COORD_RANGE, Box

__all__ = ["Match", "box_to_pixels", "iou", "match_objects", "pixels_to_box"]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (continuous coordinates; 0.0 when disjoint)."""
    ix = max(0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def box_to_pixels(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    """[0, 1000) canvas -> pixel coordinates of a ``width`` x ``height`` image."""
    sx, sy = width / COORD_RANGE, height / COORD_RANGE
    return (box.x1 * sx, box.y1 * sy, box.x2 * sx, box.y2 * sy)


def pixels_to_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Box:
    """Pixel coordinates of a ``width`` x ``height`` image -> a :class:`Box` on the [0, 1000) canvas.

    Coordinates are clamped to the image and rounded; a degenerate result is widened to one unit so that a
    grounding reply always yields a valid box. Raises ``ValueError`` on a non-positive image size.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")

    def scale(v: float, size: int) -> int:
        return min(COORD_RANGE - 1, max(0, round(v / size * COORD_RANGE)))

    bx1, bx2 = sorted((scale(x1, width), scale(x2, width)))
    by1, by2 = sorted((scale(y1, height), scale(y2, height)))
    if bx1 == bx2:
        bx1, bx2 = (bx1 - 1, bx2) if bx2 == COORD_RANGE - 1 else (bx1, bx2 + 1)
    if by1 == by2:
        by1, by2 = (by1 - 1, by2) if by2 == COORD_RANGE - 1 else (by1, by2 + 1)
    return Box(bx1, by1, bx2, by2)


@dataclass(frozen=True, slots=True)
class Match:
    """Planned object ``planned`` matched to found object ``found`` (``None`` if nothing was left to match)."""

    planned: int
    found: int | None
    iou: float


def match_objects(planned: Sequence[tuple[str, Box]], found: Sequence[tuple[str, Box]]) -> list[Match]:
    """Match each planned (label, box) to a found (label, box) of the same label, greedily by best IoU.

    Pairs are taken in order of decreasing IoU among same-label pairs; each found object is used at most once.
    A planned object with no same-label found object left gets ``found=None, iou=0.0``. Returns one
    :class:`Match` per planned object, in planned order.
    """
    pairs = sorted(
        (
            (iou(pb, fb), p, f)
            for p, (pl, pb) in enumerate(planned)
            for f, (fl, fb) in enumerate(found)
            if pl == fl
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    taken_p: dict[int, Match] = {}
    taken_f: set[int] = set()
    for score, p, f in pairs:
        if p in taken_p or f in taken_f:
            continue
        taken_p[p] = Match(p, f, score)
        taken_f.add(f)
    return [taken_p.get(p, Match(p, None, 0.0)) for p in range(len(planned))]

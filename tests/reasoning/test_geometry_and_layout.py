"""Box geometry and the layout canvas, against hand-computed values."""

from __future__ import annotations

import pytest

from gotr1.reasoning import (
    Box,
    GoTChain,
    GroundedObject,
    box_to_pixels,
    draw_layout,
    iou,
    match_objects,
    pixels_to_box,
)
from gotr1.reasoning.layout import LAYOUT_COLORS


def test_iou_hand_computed() -> None:
    a, b = Box(0, 0, 100, 100), Box(50, 50, 150, 150)
    assert iou(a, b) == pytest.approx(2500 / 17500)
    assert iou(a, a) == 1.0
    assert iou(a, Box(200, 200, 300, 300)) == 0.0


def test_pixel_conversion_round_trip() -> None:
    box = Box(125, 250, 500, 999)
    assert box_to_pixels(box, 400, 200) == (50.0, 50.0, 200.0, 199.8)
    assert pixels_to_box(50, 50, 200, 199.8, 400, 200) == box
    assert pixels_to_box(-5, 10, 999, 10, 100, 100) == Box(0, 100, 999, 101)  # clamped, degenerate widened
    with pytest.raises(ValueError, match="positive"):
        pixels_to_box(0, 0, 1, 1, 0, 10)


def test_match_objects_by_label_then_best_iou() -> None:
    planned = [("dog", Box(0, 0, 100, 100)), ("dog", Box(500, 500, 600, 600)), ("cat", Box(0, 0, 10, 10))]
    found = [("dog", Box(490, 490, 600, 600)), ("dog", Box(0, 0, 100, 110)), ("bird", Box(0, 0, 10, 10))]
    matches = match_objects(planned, found)
    assert [(m.planned, m.found) for m in matches] == [(0, 1), (1, 0), (2, None)]
    assert matches[0].iou == pytest.approx(10000 / 11000)
    assert matches[2].iou == 0.0


def test_draw_layout_is_deterministic_with_boxes_in_their_colours() -> None:
    chain = GoTChain(
        (
            "A ",
            GroundedObject("red dog", Box(100, 100, 500, 600)),
            " and ",
            GroundedObject("cup", Box(600, 50, 900, 300)),
        )
    )
    image = draw_layout(chain, size=(200, 100))
    assert image.size == (200, 100)
    assert draw_layout(chain, size=(200, 100)).tobytes() == image.tobytes()
    # left edge of the first box: x = 100/1000*200 = 20, y in its span
    assert image.getpixel((20, 40)) == LAYOUT_COLORS[0]
    assert image.getpixel((120, 20)) == LAYOUT_COLORS[1]
    assert image.getpixel((199, 99)) == (255, 255, 255)
    # the phrase is written just inside the top-left corner (anti-aliased ink, inside the outline)
    corner = [image.getpixel((x, y)) for x in range(24, 70) for y in range(13, 35)]
    assert any(p != (255, 255, 255) for p in corner)

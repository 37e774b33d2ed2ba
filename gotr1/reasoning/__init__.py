"""The GoT chain format: parse, render, layout canvas, box geometry."""

from gotr1.reasoning.chain import (
    BEGIN_OF_IMAGE,
    BOX_END,
    BOX_START,
    COORD_RANGE,
    GOT_TOKENS,
    OBJ_END,
    OBJ_START,
    Box,
    FailureKind,
    GoTChain,
    GroundedObject,
    ParseFailure,
    parse,
    render,
)
from gotr1.reasoning.geometry import Match, box_to_pixels, iou, match_objects, pixels_to_box
from gotr1.reasoning.layout import draw_layout

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
    "Match",
    "ParseFailure",
    "box_to_pixels",
    "draw_layout",
    "iou",
    "match_objects",
    "parse",
    "pixels_to_box",
    "render",
]

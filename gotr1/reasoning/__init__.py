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

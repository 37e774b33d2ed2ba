"""The GoT chain format: the paper's examples, every failure kind, and parse/render round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gotr1.reasoning import (
    BEGIN_OF_IMAGE,
    GOT_TOKENS,
    Box,
    FailureKind,
    GoTChain,
    GroundedObject,
    ParseFailure,
    parse,
    render,
)

# GOT-R1-FACTS.md section 1, the 7B example as quoted (shortened with "..." by the source).
PAPER_EXAMPLE = (
    "A <|obj_start|>bouquet of red tulips<|obj_end|> <|box_start|>(0,60),(698,780)<|box_end|> in a "
    "<|obj_start|>yellow vase<|obj_end|> <|box_start|>(65,488),(582,982)<|box_end|>, alongside a "
    "<|obj_start|>teal vase<|obj_end|> <|box_start|>(625,361),(992,887)<|box_end|> ...<begin_of_image>"
)
# The grounded-object template of the same section.
TEMPLATE_EXAMPLE = "<|obj_start|>PHRASE<|obj_end|> <|box_start|>(1,2),(3,4)<|box_end|><begin_of_image>"


def test_paper_example_parses_to_the_quoted_boxes() -> None:
    chain = parse(PAPER_EXAMPLE)
    assert isinstance(chain, GoTChain)
    assert [(o.phrase, o.box.as_tuple()) for o in chain.objects] == [
        ("bouquet of red tulips", (0, 60, 698, 780)),
        ("yellow vase", (65, 488, 582, 982)),
        ("teal vase", (625, 361, 992, 887)),
    ]
    assert chain.segments[0] == "A " and chain.segments[-1] == " ..."
    assert render(chain) == PAPER_EXAMPLE
    assert chain.text_without_boxes == "A bouquet of red tulips in a yellow vase, alongside a teal vase ..."


def test_template_example() -> None:
    chain = parse(TEMPLATE_EXAMPLE)
    assert isinstance(chain, GoTChain)
    assert chain.objects == (GroundedObject("PHRASE", Box(1, 2, 3, 4)),)


@pytest.mark.parametrize(
    ("text", "kind", "position"),
    [
        ("A dog.", FailureKind.MISSING_BEGIN_OF_IMAGE, 6),
        ("A dog.<begin_of_image>extra", FailureKind.TEXT_AFTER_BEGIN_OF_IMAGE, 22),
        (
            "A <|obj_start|>dog <|box_start|>(1,2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.UNBALANCED_TAGS,
            19,
        ),
        ("A dog<|obj_end|><begin_of_image>", FailureKind.UNBALANCED_TAGS, 5),
        (
            "<|obj_start|>dog<|obj_end|><|box_start|>(1,2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.UNBALANCED_TAGS,
            27,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(1,2),(3,4)<begin_of_image>",
            FailureKind.UNBALANCED_TAGS,
            27,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(1, 2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.MALFORMED_COORDINATES,
            41,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(1.5,2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.MALFORMED_COORDINATES,
            41,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(1,2),(3,1000)<|box_end|><begin_of_image>",
            FailureKind.OUT_OF_RANGE,
            41,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(-1,2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.OUT_OF_RANGE,
            41,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(5,2),(5,4)<|box_end|><begin_of_image>",
            FailureKind.INVERTED_BOX,
            41,
        ),
        (
            "<|obj_start|>dog<|obj_end|> <|box_start|>(1,9),(3,4)<|box_end|><begin_of_image>",
            FailureKind.INVERTED_BOX,
            41,
        ),
        (
            "<|obj_start|>  <|obj_end|> <|box_start|>(1,2),(3,4)<|box_end|><begin_of_image>",
            FailureKind.EMPTY_PHRASE,
            13,
        ),
    ],
)
def test_each_failure_kind_and_where(text: str, kind: FailureKind, position: int) -> None:
    result = parse(text)
    assert isinstance(result, ParseFailure), result
    assert result.kind is kind
    assert result.position == position
    assert kind.value in str(result)


def test_begin_of_image_optional_when_not_required() -> None:
    chain = parse("A dog.", require_begin_of_image=False)
    assert isinstance(chain, GoTChain) and not chain.ends_with_image
    assert render(chain) == "A dog."


def test_parse_raises_on_misuse() -> None:
    with pytest.raises(TypeError):
        parse(b"bytes")  # type: ignore[arg-type]


def test_invalid_boxes_and_chains_raise_at_construction() -> None:
    with pytest.raises(ValueError, match="outside"):
        Box(0, 0, 1000, 5)
    with pytest.raises(ValueError, match="x1 < x2"):
        Box(5, 0, 5, 5)
    with pytest.raises(ValueError, match="empty"):
        GroundedObject(" ", Box(0, 0, 1, 1))
    with pytest.raises(ValueError, match="adjacent"):
        GoTChain(("a", "b"))


_FRAGMENTS = st.sampled_from(
    [*GOT_TOKENS, BEGIN_OF_IMAGE, "(", ")", ",", " ", "12", "999", "1000", "dog", "-"]
)


@given(st.one_of(st.text(), st.lists(_FRAGMENTS, max_size=30).map("".join)))
def test_parse_never_raises_on_text(text: str) -> None:
    result = parse(text)
    assert isinstance(result, GoTChain | ParseFailure)
    if isinstance(result, GoTChain):
        assert render(result) == text


_PROSE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: not any(t in s for t in (*GOT_TOKENS, BEGIN_OF_IMAGE)) and "<|" not in s and "<begin" not in s
)
_PHRASE = _PROSE.filter(lambda s: s.strip() != "")


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    x1, x2 = sorted(draw(st.lists(st.integers(0, 999), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(st.integers(0, 999), min_size=2, max_size=2, unique=True)))
    return Box(x1, y1, x2, y2)


@st.composite
def chains(draw: st.DrawFn) -> GoTChain:
    segments: list[str | GroundedObject] = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()) and (not segments or not isinstance(segments[-1], str)):
            segments.append(draw(_PROSE))
        else:
            segments.append(GroundedObject(draw(_PHRASE), draw(boxes())))
    return GoTChain(tuple(segments), ends_with_image=draw(st.booleans()))


@given(chains())
def test_render_then_parse_is_identity(chain: GoTChain) -> None:
    assert parse(render(chain), require_begin_of_image=False) == chain

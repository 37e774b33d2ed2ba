"""GenEval's scoring: the summary as summary_scores.py computes it, plan and image verdicts, vocabulary gaps."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from gotr1.evaluation.geneval import (
    GenEvalResult,
    check_image,
    check_plan,
    metadata_key,
    read_phrase,
    summarize,
    vocabulary_gaps,
)
from gotr1.judges.base import Verdict
from gotr1.models.tokenizer import build_tokenizer
from gotr1.reasoning.chain import Box, GoTChain, GroundedObject
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.world import WorldConfig

CODEC = WorldConfig(classes=("dog", "cat", "cup"), grid_size=8).codec()
POSITION = SceneSpec.from_geneval(
    {
        "tag": "position",
        "prompt": "a photo of a dog right of a cup",
        "include": [{"class": "cup", "count": 1}, {"class": "dog", "count": 1, "position": ["right of", 0]}],
    }
)
COLORS = SceneSpec.from_geneval(
    {
        "tag": "colors",
        "prompt": "a photo of a red dog",
        "include": [{"class": "dog", "count": 1, "color": "red"}],
    }
)
COUNTING = SceneSpec.from_geneval(
    {
        "tag": "counting",
        "prompt": "a photo of two cats",
        "include": [{"class": "cat", "count": 2}],
        "exclude": [{"class": "cat", "count": 3}],
    }
)
LEFT, RIGHT = Box(0, 300, 300, 600), Box(700, 300, 999, 600)


def _row(tag: str, prompt: str, correct: bool, sample: int = 0) -> GenEvalResult:
    return GenEvalResult(tag, prompt, json.dumps({"tag": tag, "prompt": prompt}), correct, "", sample)


def test_summary_is_the_mean_over_tags_not_over_images() -> None:
    rows = [
        *(_row("a", "p1", c, k) for k, c in enumerate([True, True, True, False])),  # tag a: 3/4
        _row("b", "p2", True),
        _row("b", "p3", False),  # tag b: 1/2
        *(_row("c", "p4", False, k) for k in range(4)),  # tag c: 0/4
    ]
    summary = summarize(rows)
    assert summary.overall == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert summary.correct_images == pytest.approx(4 / 10)  # differs from the overall score
    assert summary.correct_prompts == pytest.approx(2 / 4)  # p1 and p2 have a correct image
    assert list(summary.tags) == ["a", "b", "c"] and summary.tags["a"].correct == 3
    assert summary.images == 10 and summary.prompts == 4
    with pytest.raises(ValueError, match="none"):
        summarize([])


def test_summary_matches_geneval_summary_scores_on_random_results() -> None:
    """The pandas expressions of djghosh13/geneval evaluation/summary_scores.py, on the same rows."""
    rng = random.Random(0)
    rows = [
        _row(tag, f"{tag}-{p}", rng.random() < 0.3 + 0.1 * t, k)
        for t, tag in enumerate(["single_object", "two_object", "counting", "colors", "position"])
        for p in range(rng.randint(3, 30))
        for k in range(4)
    ]
    df = pd.DataFrame([r.to_json() for r in rows])
    task_scores = [task_df["correct"].mean() for _, task_df in df.groupby("tag", sort=False)]
    summary = summarize(rows)
    assert summary.overall == pytest.approx(float(np.mean(task_scores)))
    assert summary.correct_images == pytest.approx(float(df["correct"].mean()))
    assert summary.correct_prompts == pytest.approx(float(df.groupby("metadata")["correct"].any().mean()))
    assert summary.prompts == len(df.groupby("metadata"))
    assert list(summary.tags) == list(df["tag"].drop_duplicates())


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("red dog", ("dog", "red")),
        ("the fluffy brown dog", ("dog", "brown")),
        ("a red hot dog", ("hot dog", "red")),  # the longest class name wins
        ("two purple wine glasses", ("wine glass", "purple")),  # GenEval's plural
        ("teddy bear", ("teddy bear", None)),
        ("blue sky", None),
    ],
)
def test_read_phrase_leniently(phrase: str, expected: tuple[str, str | None] | None) -> None:
    found = read_phrase(phrase, LEFT)
    assert (None if found is None else (found.cls, found.color)) == expected


def _chain(*objects: tuple[str, Box]) -> GoTChain:
    segments: list[str | GroundedObject] = ["A scene with "]
    for phrase, box in objects:
        segments += [GroundedObject(phrase, box), " and "]
    return GoTChain((*segments[:-1], "."), ends_with_image=True)


def test_plan_verdicts_fail_for_the_right_reason() -> None:
    ok, _ = check_plan(POSITION, _chain(("white cup", LEFT), ("black dog", RIGHT)), CODEC)
    assert ok
    ok, reason = check_plan(POSITION, _chain(("white cup", RIGHT), ("black dog", LEFT)), CODEC)
    assert not ok and "dog right of target" in reason
    ok, reason = check_plan(
        COLORS,
        _chain(
            ("blue dog", LEFT),
        ),
        CODEC,
    )
    assert not ok and "expected red dog>=1, found 0" in reason  # the colour is read from the phrase
    ok, reason = check_plan(
        COUNTING,
        _chain(
            ("red cat", LEFT),
        ),
        CODEC,
    )
    assert not ok and "expected cat>=2, found 1" in reason
    three = _chain(("red cat", LEFT), ("red cat", RIGHT), ("red cat", Box(400, 0, 600, 100)))
    ok, reason = check_plan(COUNTING, three, CODEC)
    assert not ok and "expected cat<3, found 3" in reason
    assert check_plan(COLORS, None, CODEC) == (False, "the chain did not parse")
    # Outside the synthetic world the phrase is read leniently over GenEval's vocabulary.
    assert check_plan(
        COLORS,
        _chain(
            ("the small red dog", LEFT),
        ),
        codec=None,
    )[0]


def test_image_verdicts_exact_in_the_world_and_judged_elsewhere() -> None:
    grid = np.zeros((8, 8), dtype=np.int64)
    grid[2:5, 0:2] = CODEC.code("cup", "white")
    grid[2:5, 6:8] = CODEC.code("dog", "black")
    assert check_image(POSITION, grid, CODEC) == (True, "")
    ok, reason = check_image(POSITION, np.fliplr(grid).copy(), CODEC)
    assert not ok and "right of" in reason
    assert check_image(COLORS, grid, CODEC)[1] == "expected red dog>=1, found 0"

    def verdict(r_pi: float | None, **detail: object) -> Verdict:
        failures = ("r_pi",) if r_pi is None else ()
        return Verdict(1.0, 1.0, 1.0, r_pi, failures=failures, detail=detail)

    assert check_image(COLORS, "pixels", None, verdict(0.8)) == (True, "")
    assert check_image(COLORS, "pixels", None, verdict(0.7))[0] is False
    assert check_image(COLORS, "pixels", None, verdict(0.7), pi_threshold=0.6)[0] is True
    assert check_image(COLORS, "pixels", None, verdict(None)) == (
        False,
        "the judge failed to score the image",
    )
    assert check_image(COLORS, "pixels", None, verdict(0.9, correct=False))[0] is False
    with pytest.raises(ValueError, match="judge verdict"):
        check_image(COLORS, "pixels", None, None)


def test_vocabulary_gaps_name_classes_and_unknown_words() -> None:
    tokenizer = build_tokenizer(["a photo of a red dog and a cup"])
    assert vocabulary_gaps("a photo of a red dog", ["dog"], CODEC.classes, tokenizer) == []
    gaps = vocabulary_gaps("a photo of a giraffe", ["giraffe"], CODEC.classes, tokenizer)
    assert gaps == ["class 'giraffe'", "word 'giraffe'"]
    assert vocabulary_gaps("a photo of a giraffe", ["giraffe"]) == []  # no vocabulary known: nothing missing


def test_metadata_key_groups_the_samples_of_one_prompt() -> None:
    assert metadata_key(COUNTING) == metadata_key(SceneSpec.from_geneval(COUNTING.to_geneval()))
    assert json.loads(metadata_key(COUNTING))["exclude"] == [{"class": "cat", "count": 3}]

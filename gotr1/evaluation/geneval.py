"""GenEval's scoring, for plans and for images, with the summary computed as GenEval's own script does.

GenEval (djghosh13/geneval) writes one result row per image (``evaluation/evaluate_images.py``: ``tag``,
``prompt``, ``correct``, ``reason``, ``metadata`` = the prompt's metadata as JSON) and summarises them in
``evaluation/summary_scores.py``:

- ``% correct images``: the mean of ``correct`` over every row;
- ``% correct prompts``: rows grouped by ``metadata``, a prompt counts when ANY of its images is correct;
- per tag (``groupby('tag', sort=False)``): the mean of ``correct`` over that tag's rows;
- ``Overall score (avg. over tasks)``: the UNWEIGHTED mean of the per-tag accuracies (``np.mean(task_scores)``),
  not the mean over images (GenEval's tags have 80-100 prompts each, so the two differ).

Correctness of one sample is :func:`gotr1.scenes.check.geneval_check` (GenEval's ``evaluate()``), applied to

- the PLAN: the chain's grounded objects, each read as (class, colour from the phrase, box); in the synthetic
  world the verifier's reading (:func:`gotr1.judges.verifier.plan_objects`: the phrase is ``[colour] class``
  of the world's vocabulary), at full scale a lenient reading over GenEval's 80 classes and 10 colours
  (:func:`read_phrase`: the class is the phrase's last class name, the colour the nearest colour word before it);
- the IMAGE: in the synthetic world the exact detector (:func:`gotr1.synthetic.detect.detect`); at full scale the
  judge (its ``detail["correct"]`` when it gives one, else ``r_pi >= pi_threshold``; a failed judge call is
  incorrect and counted).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gotr1.judges.base import Verdict
from gotr1.judges.verifier import plan_objects
from gotr1.reasoning.chain import Box, GoTChain
from gotr1.scenes.check import SceneObject, geneval_check
from gotr1.scenes.spec import COLORS, SceneSpec
from gotr1.scenes.vocab import GENEVAL_CLASSES, plural
from gotr1.synthetic.codec import GridCodec
from gotr1.synthetic.detect import detect

__all__ = [
    "DEFAULT_PI_THRESHOLD",
    "GenEvalResult",
    "GenEvalSummary",
    "TagScore",
    "check_image",
    "check_plan",
    "metadata_key",
    "read_phrase",
    "read_plan",
    "summarize",
    "vocabulary_gaps",
]

# An MLLM's R_PI of 8/10 or more is "perfect match" in GoT-R1's rubric (GOT-R1-FACTS.md section 3).
DEFAULT_PI_THRESHOLD = 0.8


# ---------------------------------------------------------------------------------------------- results
def metadata_key(spec: SceneSpec) -> str:
    """The prompt's metadata as GenEval stores it in a result row (``json.dumps``); rows group by it."""
    return json.dumps(spec.to_geneval())


@dataclass(frozen=True)
class GenEvalResult:
    """One row of GenEval's ``results.jsonl`` (one image, or here also one plan).

    Attributes:
        tag: the prompt's GenEval tag.
        prompt: the text prompt.
        metadata: :func:`metadata_key` of the prompt's spec (what ``summary_scores.py`` groups prompts by).
        correct: GenEval's binary verdict.
        reason: why not (GenEval's reason lines joined by newlines), empty when correct.
        sample: index of the sample among the prompt's samples.
    """

    tag: str
    prompt: str
    metadata: str
    correct: bool
    reason: str = ""
    sample: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "prompt": self.prompt,
            "correct": self.correct,
            "reason": self.reason,
            "metadata": self.metadata,
            "sample": self.sample,
        }


@dataclass(frozen=True)
class TagScore:
    """One tag's line of GenEval's task breakdown: ``correct / total`` images."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


@dataclass(frozen=True)
class GenEvalSummary:
    """What ``summary_scores.py`` prints.

    Attributes:
        images: number of result rows.
        prompts: number of distinct prompts (metadata).
        correct_images: fraction of rows that are correct.
        correct_prompts: fraction of prompts with at least one correct row.
        tags: tag -> its score, in order of first appearance (``groupby(sort=False)``).
        overall: the mean of the per-tag accuracies (GenEval's headline score).
    """

    images: int
    prompts: int
    correct_images: float
    correct_prompts: float
    tags: dict[str, TagScore]
    overall: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "tags": {
                t: {"accuracy": s.accuracy, "correct": s.correct, "total": s.total}
                for t, s in self.tags.items()
            },
            "images": self.images,
            "prompts": self.prompts,
            "correct_images": self.correct_images,
            "correct_prompts": self.correct_prompts,
        }

    def metrics(self, prefix: str) -> dict[str, float]:
        """Flat metrics: ``<prefix>/<tag>`` accuracies, ``<prefix>/overall``, ``<prefix>/correct_images`` and
        ``<prefix>/correct_prompts``."""
        out = {f"{prefix}/{tag}": score.accuracy for tag, score in self.tags.items()}
        out[f"{prefix}/overall"] = self.overall
        out[f"{prefix}/correct_images"] = self.correct_images
        out[f"{prefix}/correct_prompts"] = self.correct_prompts
        return out


def summarize(results: Sequence[GenEvalResult]) -> GenEvalSummary:
    """GenEval's summary of result rows (see the module docstring); raises ``ValueError`` on no rows (GenEval's
    ``np.mean([])`` would be NaN with a warning)."""
    if not results:
        raise ValueError("cannot summarise GenEval results: there are none")
    tags: dict[str, list[int]] = {}
    prompts: dict[str, bool] = {}
    for r in results:
        tag = tags.setdefault(r.tag, [0, 0])
        tag[0] += int(r.correct)
        tag[1] += 1
        prompts[r.metadata] = prompts.get(r.metadata, False) or r.correct
    scores = {t: TagScore(c, n) for t, (c, n) in tags.items()}
    return GenEvalSummary(
        images=len(results),
        prompts=len(prompts),
        correct_images=sum(r.correct for r in results) / len(results),
        correct_prompts=sum(prompts.values()) / len(prompts),
        tags=scores,
        overall=sum(s.accuracy for s in scores.values()) / len(scores),
    )


# ---------------------------------------------------------------------------------------------- plans
def read_phrase(
    phrase: str, box: Box, classes: Sequence[str] = GENEVAL_CLASSES, colors: Sequence[str] = COLORS
) -> SceneObject | None:
    """A grounded phrase read leniently (full-scale chains): ``"the fluffy brown dog"`` -> brown dog.

    The class is the longest class name (or its GenEval plural) the phrase ends with; the colour is the colour
    word nearest before it (``None`` if there is none). ``None`` when the phrase ends with no known class.
    """
    words = phrase.strip().lower().rstrip(".,;:!").split()
    text = " ".join(words)
    for cls in sorted(classes, key=len, reverse=True):
        for name in (cls, plural(cls)):
            if text == name or text.endswith(" " + name):
                before = text[: len(text) - len(name)].split()
                color = next((w for w in reversed(before) if w in colors), None)
                return SceneObject(cls, color, box)
    return None


def read_plan(chain: GoTChain, codec: Any) -> list[SceneObject]:
    """The chain's grounded objects as (class, colour, box); phrases outside the vocabulary are dropped.

    With the synthetic world's :class:`GridCodec` this is exactly the verifier's reading; otherwise
    :func:`read_phrase` over GenEval's vocabulary.
    """
    if isinstance(codec, GridCodec):
        return [o for o in plan_objects(chain, codec) if o is not None]
    return [o for o in (read_phrase(g.phrase, g.box) for g in chain.objects) if o is not None]


def check_plan(spec: SceneSpec, chain: GoTChain | None, codec: Any) -> tuple[bool, str]:
    """GenEval's verdict on a plan (count, colour, position, exclude) and the reason when it fails."""
    if chain is None:
        return False, "the chain did not parse"
    check = geneval_check(spec, read_plan(chain, codec))
    return check.correct, "\n".join(check.reasons)


# ---------------------------------------------------------------------------------------------- images
def check_image(
    spec: SceneSpec,
    image: Any,
    codec: Any,
    verdict: Verdict | None = None,
    pi_threshold: float = DEFAULT_PI_THRESHOLD,
) -> tuple[bool, str]:
    """GenEval's verdict on an image and the reason when it fails.

    Synthetic world (``codec`` is a :class:`GridCodec`): exact detection, then :func:`geneval_check`.
    Otherwise the judge decides: ``verdict.detail["correct"]`` if the judge gives one, else
    ``verdict.r_pi >= pi_threshold``; a failed or missing judge score is incorrect.
    """
    if isinstance(codec, GridCodec):
        found = [SceneObject(d.cls, d.color, d.box) for d in detect(image, codec)]
        check = geneval_check(spec, found)
        return check.correct, "\n".join(check.reasons)
    if verdict is None:
        raise ValueError("outside the synthetic world an image's GenEval verdict comes from a judge verdict")
    if "correct" in verdict.detail:
        return bool(verdict.detail["correct"]), "; ".join(verdict.detail.get("image_reasons", []))
    if verdict.r_pi is None:
        return False, "the judge failed to score the image"
    if verdict.r_pi >= pi_threshold:
        return True, ""
    return False, f"judge r_pi={verdict.r_pi:.2f} < {pi_threshold:.2f}"


# ---------------------------------------------------------------------------------------------- vocabulary
def vocabulary_gaps(
    prompt: str,
    classes: Sequence[str] = (),
    known_classes: Sequence[str] | None = None,
    tokenizer: Any = None,
) -> list[str]:
    """What a model cannot express of a prompt: the prompt's ``classes`` that are outside the model's image
    vocabulary (``known_classes``; ``None`` = any class) and prompt words its ``tokenizer`` maps to the unknown
    token. Empty when the prompt is within the model's vocabulary.
    """
    gaps = []
    if known_classes is not None:
        known = set(known_classes)
        gaps += [f"class {c!r}" for c in dict.fromkeys(classes) if c not in known]
    unk = getattr(tokenizer, "unk_token_id", None)
    if tokenizer is not None and unk is not None:
        for word in dict.fromkeys(prompt.split()):
            if unk in tokenizer(word, add_special_tokens=False)["input_ids"]:
                gaps.append(f"word {word!r}")
    return gaps

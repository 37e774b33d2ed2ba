"""The MLLM judge (Qwen2.5-VL in GoT-R1): rubric prompts, strict reply parsing, grounding for R_RI.

Rubrics follow GoT-R1's appendix D (GOT-R1-FACTS.md section 3; paraphrased, scales and output formats exact).
Scores are scaled to [0, 1] by the scale maximum. A reply that is not the required JSON, or a score outside the
scale, is a counted failure (``Verdict.failures``), never a silent 0.0. A chain that did not parse gets plan
rewards 0.0 without asking the judge.

The judge talks to a :class:`ChatBackend`: :class:`gotr1.judges.http.OpenAIChatBackend` for a served model
(vLLM's OpenAI-compatible server); any object with the same ``complete`` method works.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from gotr1.judges.base import JudgeRequest, Verdict
from gotr1.reasoning.geometry import match_objects, pixels_to_box
from gotr1.reasoning.layout import draw_layout

__all__ = [
    "PI_RUBRIC",
    "SEM_RUBRIC",
    "SPA_RUBRIC",
    "ChatBackend",
    "ChatRequest",
    "MLLMJudge",
    "grounding_prompt",
    "parse_grounding",
    "parse_score",
    "smart_resize",
]

SEM_RUBRIC = (
    "You are a professional caption evaluator. Judge how well a detailed caption aligns with a brief prompt: "
    "completeness (every concept of the prompt is present), faithfulness (nothing contradicts it), consistency "
    "(a plausible scene) and clarity (coherent and well formed). Score 0-10: 0 nonsensical; 1-2 severe "
    "misalignment; 3-4 poor; 5-6 moderate; 7-8 strong with minor issues; 9-10 perfect. "
    'Output only a dictionary {"score": N}.'
)
SPA_RUBRIC = (
    "The image shows a planned layout: each object is a box with its name written at the top-left corner. "
    "Judge whether the objects are arranged as the prompt says. Score 1-10: 10 all objects shown and positions "
    "match perfectly, 9 minor ambiguity, 8 some ambiguity; 5-7 partial or ambiguous; 4 slight contradiction, "
    "3 clear contradiction, 2 major or several objects missing, 1 complete mismatch. "
    'Output only {"reasoning": "...", "score": N}.'
)
PI_RUBRIC = (
    "Judge ONLY the compositional accuracy of the image against the prompt: object presence, attributes and "
    "spatial relationships; read 'left of' and 'on top of' strictly. Score 0-10: 8-10 perfect match; 5-7 minor "
    'mismatch; 0-4 major mismatch. Output only {"description": "...", "caption": "...", "reasoning": "...", '
    '"score": N}.'
)
SCALES = {"r_sem": (0, 10), "r_spa": (1, 10), "r_pi": (0, 10)}


def grounding_prompt(phrase: str) -> str:
    """Qwen2.5-VL's native grounding prompt."""
    return f"Locate the {phrase}, report the bbox coordinates in JSON format."


@dataclass(frozen=True)
class ChatRequest:
    system: str
    text: str
    image: Image.Image | None = None


class ChatBackend(Protocol):
    def complete(self, requests: Sequence[ChatRequest]) -> list[str | None]:
        """One reply per request, in order; ``None`` where the call failed after retries."""
        ...


_JSON_BLOCK = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json(reply: str) -> Any:
    match = _JSON_BLOCK.search(reply)
    return json.loads(match.group(1) if match else reply.strip())


def parse_score(reply: str | None, component: str) -> float | None:
    """The scaled score of a rubric reply, or ``None`` when the reply is not the required JSON or is off-scale."""
    if reply is None:
        return None
    try:
        data = _json(reply)
        score = data["score"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    low, high = SCALES[component]
    if not low <= score <= high:
        return None
    return float(score) / high


def parse_grounding(reply: str | None) -> list[tuple[float, float, float, float]] | None:
    """Boxes of a grounding reply (``[{"bbox_2d": [x1, y1, x2, y2], ...}]`` or one such object) in pixels of the
    image as sent; ``[]`` when the object was not found; ``None`` when the reply is not that JSON."""
    if reply is None:
        return None
    try:
        data = _json(reply)
    except ValueError:
        return None
    items = data if isinstance(data, list) else [data]
    boxes = []
    for item in items:
        box = item.get("bbox_2d") if isinstance(item, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            return None
        boxes.append((float(box[0]), float(box[1]), float(box[2]), float(box[3])))
    return boxes


def smart_resize(
    width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 28 * 28 * 1280
) -> tuple[int, int]:
    """The size Qwen2.5-VL's processor resizes an image to (sides multiples of ``factor``, pixel budget kept);
    its grounding coordinates are pixels of that size, so images are sent already resized."""
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return w, h


class MLLMJudge:
    """GoT-R1's four rewards from one MLLM behind a :class:`ChatBackend`.

    Args:
        backend: answers chat requests (batched, concurrent, with its own retries).
        to_pil: turns a rollout's image into a PIL image (the policy codec's ``to_pil``).
        layout_size: side of the R_spa layout canvas.
    """

    name = "mllm"

    def __init__(self, backend: ChatBackend, to_pil: Any = None, layout_size: int = 448) -> None:
        self.backend = backend
        self.to_pil = to_pil or (lambda image: image)
        self.layout_size = layout_size

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        calls: list[ChatRequest] = []
        index: list[tuple[int, str, int]] = []  # (rollout, component, object index)
        images: list[Image.Image] = []
        for i, req in enumerate(requests):
            image = self.to_pil(req.image).convert("RGB")
            image = image.resize(smart_resize(*image.size))
            images.append(image)
            calls.append(ChatRequest(PI_RUBRIC, f"Prompt: {req.prompt}", image))
            index.append((i, "r_pi", -1))
            if req.chain is None:
                continue
            calls.append(
                ChatRequest(SEM_RUBRIC, f"Prompt: {req.prompt}\nCaption: {req.chain.text_without_boxes}")
            )
            index.append((i, "r_sem", -1))
            canvas = draw_layout(req.chain, (self.layout_size, self.layout_size))
            calls.append(ChatRequest(SPA_RUBRIC, f"Prompt: {req.prompt}", canvas))
            index.append((i, "r_spa", -1))
            for k, obj in enumerate(req.chain.objects):
                calls.append(ChatRequest("", grounding_prompt(obj.phrase), image))
                index.append((i, "r_ri", k))
        replies = self.backend.complete(calls)
        if len(replies) != len(calls):
            raise RuntimeError(f"judge backend returned {len(replies)} replies for {len(calls)} requests")

        scores: list[dict[str, float | None]] = [{} for _ in requests]
        failures: list[set[str]] = [set() for _ in requests]
        grounded: list[dict[int, list[tuple[float, float, float, float]]]] = [{} for _ in requests]
        for (i, component, k), reply in zip(index, replies, strict=True):
            if component == "r_ri":
                boxes = parse_grounding(reply)
                if boxes is None:
                    failures[i].add("r_ri")
                else:
                    grounded[i][k] = boxes
                continue
            value = parse_score(reply, component)
            scores[i][component] = value
            if value is None:
                failures[i].add(component)
        verdicts = []
        for i, req in enumerate(requests):
            if req.chain is None:
                plan: dict[str, float | None] = {"r_sem": 0.0, "r_spa": 0.0, "r_ri": 0.0}
            else:
                plan = {k: scores[i].get(k) for k in ("r_sem", "r_spa")}
                plan["r_ri"] = None if "r_ri" in failures[i] else self._r_ri(req, grounded[i], images[i].size)
            verdicts.append(
                Verdict(
                    r_sem=plan["r_sem"],
                    r_spa=plan["r_spa"],
                    r_ri=plan["r_ri"],
                    r_pi=scores[i].get("r_pi"),
                    failures=tuple(sorted(failures[i])),
                )
            )
        return verdicts

    @staticmethod
    def _r_ri(
        req: JudgeRequest, grounded: dict[int, list[tuple[float, float, float, float]]], size: tuple[int, int]
    ) -> float:
        """Mean over planned objects of the IoU with the best grounded box for that object (0 if none)."""
        assert req.chain is not None
        objects = req.chain.objects
        if not objects:
            return 0.0
        total = 0.0
        for k, obj in enumerate(objects):
            found = [("o", pixels_to_box(*box, *size)) for box in grounded.get(k, [])]
            total += max((m.iou for m in match_objects([("o", obj.box)], found)), default=0.0)
        return total / len(objects)

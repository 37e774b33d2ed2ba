"""The verifier judge: GoT-R1's four rewards computed exactly from the scene spec (synthetic world).

Same batched interface as the MLLM judge (:class:`gotr1.judges.base.Judge`); each score is in [0, 1]:

- ``r_sem`` (chain vs spec, semantic): the fraction of these checks that pass: for every required object,
  (a) it is grounded at least once, (b) it is grounded exactly ``count`` times, (c) every grounded instance has
  the required colour (when the spec gives one); plus (d) nothing contradicts the prompt: every grounded phrase
  names a class the prompt asks for, with a colour the world knows.
- ``r_spa`` (planned boxes vs spec, spatial): the fraction of GenEval's count, position and exclude checks
  (:func:`gotr1.scenes.check.geneval_check`, colours left to ``r_sem``) that the planned boxes pass.
- ``r_ri`` (chain vs image): mean IoU between each planned box and a detected instance of the same class,
  matched greedily by best IoU (:func:`gotr1.reasoning.geometry.match_objects`); an unmatched planned object
  scores 0; a chain with no grounded objects scores 0. Matching is by class, as an MLLM grounding "the red dog"
  finds the dog whatever its colour; colours are judged by ``r_sem`` (plan) and ``r_pi`` (image).
- ``r_pi`` (image vs prompt): the fraction of GenEval's checks (count, colour, position, exclude) that the
  detected instances pass; ``detail["correct"]`` is GenEval's binary verdict.

A chain that did not parse (``chain=None``) gets ``r_sem = r_spa = r_ri = 0.0``; ``r_pi`` is still judged.
"""

from __future__ import annotations

from collections.abc import Sequence

from gotr1.judges.base import JudgeRequest, Verdict
from gotr1.reasoning.chain import GoTChain
from gotr1.reasoning.geometry import match_objects
from gotr1.scenes.check import SceneObject, geneval_check
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.codec import GridCodec
from gotr1.synthetic.detect import detect, phrase_to_object

__all__ = ["VerifierJudge", "plan_objects"]


def plan_objects(chain: GoTChain, codec: GridCodec) -> list[SceneObject | None]:
    """The chain's grounded objects as scene objects (``None`` for a phrase outside the vocabulary)."""
    out: list[SceneObject | None] = []
    for obj in chain.objects:
        parsed = phrase_to_object(obj.phrase, codec)
        out.append(None if parsed is None else SceneObject(parsed[1], parsed[0], obj.box))
    return out


class VerifierJudge:
    """Exact judge for the synthetic world; needs a scene spec with every request."""

    name = "verifier"

    def __init__(self, codec: GridCodec) -> None:
        self.codec = codec

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        return [self._judge_one(r) for r in requests]

    def _judge_one(self, request: JudgeRequest) -> Verdict:
        if request.spec is None:
            raise ValueError(f"the verifier judge needs a scene spec; none for prompt {request.prompt!r}")
        spec = request.spec
        detections = [SceneObject(d.cls, d.color, d.box) for d in detect(request.image, self.codec)]
        image_check = geneval_check(spec, detections)
        detail: dict[str, object] = {"correct": image_check.correct, "image_reasons": image_check.reasons}
        if request.chain is None:
            return Verdict(0.0, 0.0, 0.0, image_check.fraction(), detail=detail)

        planned = plan_objects(request.chain, self.codec)
        known = [p for p in planned if p is not None]
        plan_check = geneval_check(spec, known, colors=False)
        detail["plan_correct"] = plan_check.correct
        detail["plan_reasons"] = plan_check.reasons
        return Verdict(
            r_sem=self.r_sem(spec, planned),
            r_spa=plan_check.fraction(),
            r_ri=self.r_ri(planned, detections),
            r_pi=image_check.fraction(),
            detail=detail,
        )

    @staticmethod
    def r_sem(spec: SceneSpec, planned: Sequence[SceneObject | None]) -> float:
        checks: list[bool] = []
        asked = {o.cls for o in spec.include}
        for req in spec.include:
            mine = [p for p in planned if p is not None and p.cls == req.cls]
            checks.append(bool(mine))
            checks.append(len(mine) == req.count)
            if req.color is not None:
                checks.append(bool(mine) and all(p.color == req.color for p in mine))
        checks.append(bool(planned) and all(p is not None and p.cls in asked and p.color for p in planned))
        return sum(checks) / len(checks)

    @staticmethod
    def r_ri(planned: Sequence[SceneObject | None], detections: Sequence[SceneObject]) -> float:
        if not planned:
            return 0.0
        # Phrases outside the vocabulary match nothing but still count in the mean.
        matchable = [(p.cls, p.box) for p in planned if p is not None]
        found = [(d.cls, d.box) for d in detections]
        return sum(m.iou for m in match_objects(matchable, found)) / len(planned)

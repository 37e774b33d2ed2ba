"""The Judge seam: one batched interface for the verifier judge (exact, synthetic world) and MLLM judges.

A judge scores rollouts on GoT-R1's four dual-stage rewards (GOT-R1-FACTS.md section 3), each in [0, 1]:

- ``r_sem``: prompt -> reasoning, semantic (the chain's prose covers the prompt faithfully);
- ``r_spa``: prompt -> reasoning, spatial (the planned boxes, drawn on a canvas, satisfy the prompt's layout);
- ``r_ri``: reasoning -> image (mean IoU of planned boxes vs the objects grounded in the image);
- ``r_pi``: prompt -> image (the image satisfies the prompt).

``None`` means "not applicable" or "the judge failed"; failures are listed by component name in
``Verdict.failures`` so that they are counted, never scored as a silent 0.0. ``0.0`` means wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gotr1.reasoning.chain import GoTChain
from gotr1.scenes.spec import SceneSpec

__all__ = ["COMPONENTS", "Judge", "JudgeRequest", "Verdict"]

COMPONENTS: tuple[str, ...] = ("r_sem", "r_spa", "r_ri", "r_pi")


@dataclass(frozen=True)
class JudgeRequest:
    """One rollout to judge.

    Attributes:
        prompt: the text prompt.
        chain: the parsed chain, or ``None`` when the model's chain did not parse (plan rewards are then 0.0).
        image: the generated image: a ``PIL.Image.Image`` at full scale, an ``[G, G]`` integer grid of cell codes
            in the synthetic world.
        spec: the scene spec when the prompt has one (the verifier judge requires it; MLLM judges ignore it).
    """

    prompt: str
    chain: GoTChain | None
    image: Any
    spec: SceneSpec | None = None


@dataclass(frozen=True)
class Verdict:
    """The judge's scores for one rollout; each in [0, 1] or ``None`` (not applicable / failed)."""

    r_sem: float | None
    r_spa: float | None
    r_ri: float | None
    r_pi: float | None
    failures: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"Verdict.{name}={value} is outside [0, 1]")
        unknown = set(self.failures) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"Verdict.failures names unknown components {sorted(unknown)}")
        for name in self.failures:
            if getattr(self, name) is not None:
                raise ValueError(f"Verdict.{name} failed but carries a score")

    def component(self, name: str) -> float | None:
        if name not in COMPONENTS:
            raise KeyError(f"unknown reward component {name!r}; expected one of {COMPONENTS}")
        value: float | None = getattr(self, name)
        return value


@runtime_checkable
class Judge(Protocol):
    """Scores a batch of rollouts. Implementations batch and parallelise internally."""

    name: str

    def judge(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """Return one :class:`Verdict` per request, in order. Must not raise on bad model output or a bad
        judge reply: those become ``failures``."""
        ...

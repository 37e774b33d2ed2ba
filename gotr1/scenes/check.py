"""GenEval correctness of a set of objects against a scene spec: the single source of truth.

Mirrors ``evaluate()`` in djghosh13/geneval ``evaluation/evaluate_images.py`` for detections:

- include: at least ``count`` instances of the class must be found; only the first ``count`` are examined;
- colour: among those, at least ``count`` must have the required colour;
- position (only checked when the object's count and colour passed): every examined instance must stand in
  the relation to every examined instance of the target group (GenEval's rule, :mod:`gotr1.scenes.relations`);
  if the target group failed, the position fails;
- exclude: fewer than ``count`` instances of the class may be present.

The result lists every check so that scores can be graded (fraction passed) while ``correct`` stays GenEval's
binary verdict. Checks that GenEval never reaches (colour or position after a failed count) count as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gotr1.reasoning.chain import Box
from gotr1.scenes.relations import relation_holds
from gotr1.scenes.spec import SceneSpec

__all__ = ["Check", "LayoutCheck", "SceneObject", "geneval_check"]


@dataclass(frozen=True, slots=True)
class SceneObject:
    """An object found in an image or planned in a chain: class, colour (``None`` if unknown) and box."""

    cls: str
    color: str | None
    box: Box


@dataclass(frozen=True, slots=True)
class Check:
    """One GenEval requirement: ``kind`` is ``count``, ``color``, ``position`` or ``exclude``."""

    kind: str
    cls: str
    passed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LayoutCheck:
    """Every check and GenEval's binary verdict."""

    checks: tuple[Check, ...]

    @property
    def correct(self) -> bool:
        return all(c.passed for c in self.checks)

    def fraction(self, kinds: Sequence[str] | None = None) -> float:
        """Fraction of checks passed, optionally restricted to some kinds (1.0 when there are none)."""
        chosen = [c for c in self.checks if kinds is None or c.kind in kinds]
        return sum(c.passed for c in chosen) / len(chosen) if chosen else 1.0

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.checks if not c.passed]


def geneval_check(spec: SceneSpec, objects: Sequence[SceneObject], *, colors: bool = True) -> LayoutCheck:
    """Check ``objects`` against ``spec`` exactly as GenEval does; ``colors=False`` skips colour checks."""
    by_class: dict[str, list[SceneObject]] = {}
    for obj in objects:
        by_class.setdefault(obj.cls, []).append(obj)

    checks: list[Check] = []
    matched_groups: list[list[SceneObject] | None] = []
    for req in spec.include:
        found = by_class.get(req.cls, [])[: req.count]
        matched = len(found) >= req.count
        checks.append(
            Check(
                "count",
                req.cls,
                matched,
                "" if matched else f"expected {req.cls}>={req.count}, found {len(found)}",
            )
        )
        if colors and req.color is not None:
            n_right = sum(o.color == req.color for o in found) if matched else 0
            ok = matched and n_right >= req.count
            reason = "" if ok else f"expected {req.color} {req.cls}>={req.count}, found {n_right}"
            checks.append(Check("color", req.cls, ok, reason))
            matched = matched and ok
        if req.position is not None:
            relation, target = req.position
            group = matched_groups[target] if target < len(matched_groups) else None
            if not matched or group is None:
                ok, reason = False, f"no target for {req.cls} to be {relation}"
            else:
                bad = [(o, t) for o in found for t in group if not relation_holds(relation, o.box, t.box)]
                ok = not bad
                reason = "" if ok else f"expected {req.cls} {relation} target, found {len(bad)} pairs failing"
            checks.append(Check("position", req.cls, ok, reason))
            matched = matched and ok
        matched_groups.append(found if matched else None)

    for ex in spec.exclude:
        n = len(by_class.get(ex.cls, []))
        ok = n < ex.count
        checks.append(Check("exclude", ex.cls, ok, "" if ok else f"expected {ex.cls}<{ex.count}, found {n}"))
    return LayoutCheck(tuple(checks))

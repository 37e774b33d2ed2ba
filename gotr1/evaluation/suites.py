"""Benchmark prompt sets and the evaluation of one model on one of them.

Formats:

- ``geneval``: GenEval's ``evaluation_metadata.jsonl`` (one scene spec per line; groups are GenEval's tags);
- ``t2i-compbench``: T2I-CompBench's ``<category>_val.txt`` files (one prompt a line; a folder holds one file per
  category, ``*_train.txt`` files are ignored); groups are the categories;
- ``lines``: one prompt a line; the group is the tag of the prompt's GenEval-style scene spec, else ``free-form``.

For the last two, a prompt gets a scene spec when :func:`gotr1.scenes.prompt_parser.parse_prompt` reads it
(``"a photo of "`` is prefixed when missing: T2I-CompBench's "a green bench and a blue bowl" becomes a
``color_attr`` spec), so the verifier judge can score it and GenEval's checks apply.

Prompts the model cannot express (a class outside its image vocabulary, a word its tokenizer does not know) are
not sampled. GenEval scores are reported twice: over ``all`` prompts, with each such prompt's
``samples_per_prompt`` samples counted as failures (GenEval's protocol scores every prompt), and over the
``in_vocabulary`` prompts only (those prompts excluded). Prompts without a spec cannot be scored by the verifier
judge; they are listed as ``unscorable`` and not sampled when it is the judge.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gotr1.data.curation import load_geneval_prompts, load_prompt_lines
from gotr1.evaluation.geneval import (
    DEFAULT_PI_THRESHOLD,
    GenEvalResult,
    metadata_key,
    summarize,
    vocabulary_gaps,
)
from gotr1.evaluation.rollouts import EvalItem, EvaluatedSample, geneval_results, sample_and_judge, summarise
from gotr1.judges.base import COMPONENTS, Judge
from gotr1.models.base import Policy
from gotr1.rewards import RewardConfig
from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.codec import GridCodec

__all__ = ["FORMATS", "ModelEvaluation", "PromptSet", "evaluate_model", "infer_format", "load_prompt_set"]

FORMATS: tuple[str, ...] = ("geneval", "t2i-compbench", "lines")
FREE_FORM = "free-form"
_VAL_SUFFIX = "_val.txt"


@dataclass(frozen=True)
class PromptSet:
    """Prompts to evaluate, in file order. ``source`` is what was read (a file, or a folder of files)."""

    format: str
    source: str
    items: tuple[EvalItem, ...]

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(it.group for it in self.items))


def infer_format(path: Path) -> str:
    """``geneval`` for ``*.jsonl``, ``t2i-compbench`` for a folder or a ``*_val.txt`` file, else ``lines``."""
    if path.is_dir() or path.name.endswith(_VAL_SUFFIX):
        return "t2i-compbench"
    return "geneval" if path.suffix == ".jsonl" else "lines"


def _spec_of(prompt: str) -> SceneSpec | None:
    spec = parse_prompt(prompt)
    if spec is None and not prompt.strip().lower().startswith("a photo of "):
        spec = parse_prompt(f"a photo of {prompt.strip()}")
        if spec is not None:  # keep the prompt as written: that is what the model is given
            spec = SceneSpec(spec.tag, prompt, spec.include, spec.exclude)
    return spec


def load_prompt_set(path: Path, fmt: str) -> PromptSet:
    """Read a prompt set; raises ``ValueError`` saying what is wrong and where."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; expected one of {FORMATS}")
    if fmt == "geneval":
        if path.is_dir():
            raise ValueError(f"{path} is a folder; the geneval format reads one evaluation_metadata.jsonl")
        rows = load_geneval_prompts(str(path))
        items = []
        for number, row in enumerate(rows, start=1):
            try:
                spec = SceneSpec.from_geneval(row)
            except ValueError as err:
                raise ValueError(f"{path}, line {number}: {err}") from err
            items.append(EvalItem(spec.prompt, spec.tag, spec))
        return PromptSet(fmt, str(path), tuple(items))
    if fmt == "t2i-compbench":
        files = sorted(path.glob(f"*{_VAL_SUFFIX}")) if path.is_dir() else [path]
        if not files:
            raise ValueError(f"{path} holds no T2I-CompBench <category>{_VAL_SUFFIX} file")
        items = []
        for file in files:
            if not file.name.endswith(_VAL_SUFFIX):
                raise ValueError(f"{file}: a T2I-CompBench prompt file is named <category>{_VAL_SUFFIX}")
            category = file.name[: -len(_VAL_SUFFIX)]
            items += [EvalItem(p, category, _spec_of(p)) for p in load_prompt_lines(str(file))]
        return PromptSet(fmt, str(path), tuple(items))
    items = []
    for p in load_prompt_lines(str(path)):
        parsed = _spec_of(p)
        items.append(EvalItem(p, parsed.tag if parsed else FREE_FORM, parsed))
    return PromptSet(fmt, str(path), tuple(items))


@dataclass
class ModelEvaluation:
    """One model on one prompt set.

    Attributes:
        name: the model's label in the report (e.g. ``GRPO``).
        checkpoint: where it was loaded from.
        metrics: flat metrics (:func:`gotr1.evaluation.rollouts.summarise` over the samples, then GenEval's scores
            over all prompts with out-of-vocabulary ones as failures under ``geneval/...`` and over in-vocabulary
            prompts only under ``geneval_in_vocabulary/...``, and reward means per group under
            ``group/<group>/<component>``).
        geneval: ``{"plan" | "image": {"all" | "in_vocabulary": GenEvalSummary.as_dict()}}`` (empty when no
            prompt has a spec).
        groups: per group: prompts, sampled prompts, samples, reward means, parse failure rate.
        out_of_vocabulary: ``[{"prompt", "group", "missing": [...]}]``, not sampled.
        unscorable: prompts the judge cannot score (no scene spec for the verifier judge), not sampled.
        samples: the judged samples.
        results: GenEval result rows over all prompts, ``{"plan": [...], "image": [...]}``.
        seconds: wall time of sampling and judging.
    """

    name: str
    checkpoint: str
    metrics: dict[str, float]
    geneval: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, float]]
    out_of_vocabulary: list[dict[str, Any]]
    unscorable: list[str]
    samples: list[EvaluatedSample] = field(repr=False)
    results: dict[str, list[GenEvalResult]] = field(repr=False)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checkpoint": self.checkpoint,
            "seconds": self.seconds,
            "metrics": self.metrics,
            "geneval": self.geneval,
            "groups": self.groups,
            "out_of_vocabulary": {"count": len(self.out_of_vocabulary), "prompts": self.out_of_vocabulary},
            "unscorable": {"count": len(self.unscorable), "prompts": self.unscorable},
        }


def _image_classes(policy: Policy) -> tuple[str, ...] | None:
    codec = policy.codec
    return codec.classes if isinstance(codec, GridCodec) else None


def _group_means(
    items: Sequence[EvalItem], samples: Sequence[EvaluatedSample]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for group in dict.fromkeys(it.group for it in items):
        mine = [s for s in samples if s.tag == group]
        row: dict[str, float] = {
            "prompts": sum(it.group == group for it in items),
            "sampled_prompts": len({s.prompt for s in mine}),
            "samples": len(mine),
        }
        for name in COMPONENTS:
            values = [v for s in mine if (v := s.verdict.component(name)) is not None]
            row[name] = sum(values) / len(values) if values else math.nan
        totals = [s.total for s in mine if s.total is not None]
        row["total"] = sum(totals) / len(totals) if totals else math.nan
        row["parse_failure_rate"] = sum(not s.parsed for s in mine) / len(mine) if mine else math.nan
        out[group] = row
    return out


def evaluate_model(
    name: str,
    checkpoint: str,
    policy: Policy,
    prompts: PromptSet,
    judge: Judge,
    samples_per_prompt: int = 4,
    seed: int = 0,
    reward: RewardConfig | None = None,
    batch_prompts: int = 32,
    pi_threshold: float = DEFAULT_PI_THRESHOLD,
    tokenizer: Any = None,
) -> ModelEvaluation:
    """Evaluate ``policy`` on ``prompts`` (see the module docstring for what is scored and how).

    Args:
        tokenizer: the policy's text tokenizer; prompts with words it maps to the unknown token are out of
            vocabulary (default: ``policy.tokenizer`` when the policy has one).
    """
    start = time.perf_counter()
    tokenizer = tokenizer if tokenizer is not None else getattr(policy, "tokenizer", None)
    classes = _image_classes(policy)
    needs_spec = judge.name == "verifier"
    sampled: list[EvalItem] = []
    outside: list[tuple[EvalItem, list[str]]] = []
    unscorable: list[str] = []
    for it in prompts.items:
        needed = [o.cls for o in it.spec.include] if it.spec is not None else []
        gaps = vocabulary_gaps(it.prompt, needed, classes, tokenizer)
        if gaps:
            outside.append((it, gaps))
        elif needs_spec and it.spec is None:
            unscorable.append(it.prompt)
        else:
            sampled.append(it)
    samples = (
        sample_and_judge(
            policy, sampled, judge, samples_per_prompt, seed, reward, batch_prompts, pi_threshold
        )
        if sampled
        else []
    )
    metrics = summarise(samples)
    geneval: dict[str, dict[str, Any]] = {}
    results: dict[str, list[GenEvalResult]] = {}
    for kind in ("plan", "image"):
        inside = geneval_results(samples, kind)
        failed = [
            GenEvalResult(
                it.spec.tag,
                it.prompt,
                metadata_key(it.spec),
                False,
                "outside the model's vocabulary: " + ", ".join(gaps),
                k,
            )
            for it, gaps in outside
            if it.spec is not None
            for k in range(samples_per_prompt)
        ]
        everything = _in_prompt_order(prompts, [*inside, *failed])
        results[kind] = everything
        if not everything:
            continue
        geneval[kind] = {"all": summarize(everything).as_dict()}
        metrics.update(summarize(everything).metrics(f"geneval/{kind}"))
        if inside:
            geneval[kind]["in_vocabulary"] = summarize(inside).as_dict()
            metrics.update(summarize(inside).metrics(f"geneval_in_vocabulary/{kind}"))
    groups = _group_means(prompts.items, samples)
    for group, row in groups.items():
        metrics.update({f"group/{group}/{k}": v for k, v in row.items() if k in (*COMPONENTS, "total")})
    metrics["out_of_vocabulary_prompts"] = float(len(outside))
    metrics["unscorable_prompts"] = float(len(unscorable))
    return ModelEvaluation(
        name=name,
        checkpoint=checkpoint,
        metrics=metrics,
        geneval=geneval,
        groups=groups,
        out_of_vocabulary=[{"prompt": it.prompt, "group": it.group, "missing": gaps} for it, gaps in outside],
        unscorable=unscorable,
        samples=samples,
        results=results,
        seconds=time.perf_counter() - start,
    )


def _in_prompt_order(prompts: PromptSet, rows: Sequence[GenEvalResult]) -> list[GenEvalResult]:
    """Result rows in the prompt file's order (GenEval's tag order is the order tags first appear)."""
    rank = {it.prompt: i for i, it in reversed(list(enumerate(prompts.items)))}
    return sorted(rows, key=lambda r: (rank.get(r.prompt, len(rank)), r.sample))

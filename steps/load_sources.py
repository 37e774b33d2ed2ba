"""Load the sources: the synthetic world's GoT records, GoT record files, RL prompt files, evaluation prompts."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.config import CachePolicy

from gotr1.backends import PolicySpec
from gotr1.data.curation import (
    COLUMNS,
    load_geneval_prompts,
    load_got_records,
    load_prompt_lines,
    load_rl_prompts,
    records_from_samples,
)
from gotr1.embedded import PromptItem, eval_specs, prompt_frame, rl_prompts
from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.scenes.spec import SceneSpec
from gotr1.synthetic.world import sample_dataset
from steps._config import embedded_config

_DEPENDS_ON = ["gotr1.synthetic.world", "gotr1.data.curation", "gotr1.embedded", "gotr1.backends"]


def _eval_items(uri: str) -> list[PromptItem]:
    if uri.endswith(".jsonl"):  # GenEval's evaluation_metadata.jsonl: every prompt has its scene spec
        return [PromptItem(s.prompt, s) for s in map(SceneSpec.from_geneval, load_geneval_prompts(uri))]
    return [PromptItem(p, parse_prompt(p)) for p in load_prompt_lines(uri)]


@step(cache_policy=CachePolicy(source_dependencies=_DEPENDS_ON))
def load_sources(
    source_fingerprint: dict[str, str],
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> tuple[
    Annotated[pd.DataFrame, "raw_records"],
    Annotated[pd.DataFrame, "rl_prompts"],
    Annotated[pd.DataFrame, "eval_prompts"],
]:
    """GoT records (the world's when ``config.policy`` draws in the synthetic world, plus ``got_records`` JSONL
    files, local or ``s3://``), RL prompts (the world's,
    or ``rl_prompt_files``: T2I-R1's tagged JSONL, or one prompt a line such as T2I-CompBench train) and evaluation prompts (the world's
    held-out scenes, or ``eval_prompt_files``: GenEval metadata JSONL or one prompt a line). Training data that
    matches an evaluation prompt is removed later (:func:`steps.curate_data.curate_data`).

    ``source_fingerprint`` (what the files hold now) is here only to key the cache.
    """
    cfg = embedded_config(config)
    frames = [pd.DataFrame({c: pd.Series(dtype=str) for c in COLUMNS})]
    if PolicySpec.from_dict((config or {}).get("policy")).in_world:
        frames.append(
            records_from_samples(sample_dataset(cfg.world, cfg.sft_examples, cfg.seed), "synthetic-world")
        )
    frames += [load_got_records(uri) for uri in got_records or []]
    raw = pd.concat(frames, ignore_index=True)[list(COLUMNS)]
    rl = (
        [PromptItem(p, spec) for uri in rl_prompt_files for p, spec in load_rl_prompts(uri)]
        if rl_prompt_files
        else rl_prompts(cfg)
    )
    held_out = (
        [it for uri in eval_prompt_files for it in _eval_items(uri)]
        if eval_prompt_files
        else [PromptItem(s.prompt, s) for s in eval_specs(cfg)]
    )
    log_metadata(
        {
            "raw_records": len(raw),
            "rl_prompts": len(rl),
            "eval_prompts": len(held_out),
            "sources": {
                "got_records": got_records or [],
                "rl": rl_prompt_files or [],
                "eval": eval_prompt_files or [],
            },
        }
    )
    return raw, prompt_frame(rl), prompt_frame(held_out)

"""Load training records and prompts: the synthetic world, GoT records JSONL, evaluation prompt sets."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step

from gotr1.data.curation import (
    COLUMNS,
    load_geneval_prompts,
    load_got_records,
    load_prompt_lines,
    records_from_samples,
    remove_leakage,
)
from gotr1.embedded import PromptItem, eval_specs, prompt_frame, rl_prompts
from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.synthetic.world import sample_dataset
from steps._config import embedded_config


@step
def load_data(
    config: dict[str, Any] | None = None,
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> tuple[
    Annotated[pd.DataFrame, "raw_records"],
    Annotated[pd.DataFrame, "rl_prompts"],
    Annotated[pd.DataFrame, "eval_prompts"],
    Annotated[list[str], "leakage_prompts"],
]:
    """The world's SFT records, RL prompts and held-out prompts; GoT record files (local or s3://); RL prompt
    files (one prompt a line, e.g. T2I-CompBench train) replacing the world's RL prompts; and the evaluation
    prompt sets (GenEval JSONL or one prompt a line) that training must not contain."""
    cfg = embedded_config(config)
    frames = [records_from_samples(sample_dataset(cfg.world, cfg.sft_examples, cfg.seed), "synthetic-world")]
    frames += [load_got_records(uri) for uri in got_records or []]
    raw = pd.concat(frames, ignore_index=True)[list(COLUMNS)]
    held = prompt_frame([PromptItem(s.prompt, s) for s in eval_specs(cfg)])
    leakage = list(held["prompt"])
    for uri in eval_prompt_files or []:
        leakage += (
            [r["prompt"] for r in load_geneval_prompts(uri)]
            if uri.endswith(".jsonl")
            else load_prompt_lines(uri)
        )
    rl = (
        rl_prompts(cfg)
        if not rl_prompt_files
        else [PromptItem(p, parse_prompt(p)) for uri in rl_prompt_files for p in load_prompt_lines(uri)]
    )
    rl_frame, leaked = remove_leakage(prompt_frame(rl), leakage)
    log_metadata(
        {
            "raw_records": len(raw),
            "leakage_prompts": len(leakage),
            "rl_prompts": len(rl_frame),
            "rl_prompts_leaked": leaked,
        }
    )
    return raw, rl_frame, held, leakage

"""How well does SFT teach the tiny Janus the image? Train SFT on the synthetic world, then score the image head
teacher-forced on held-out scenes: each grid cell's argmax code against the true one, and what each wrong object
cell was predicted as. This is the measurement behind the codec and vocabulary choice (issue 3).

    python scripts/image_cell_probe.py --output outputs/cells                          # the embedded default
    python scripts/image_cell_probe.py --output outputs/cells80 --all-classes          # GenEval's 80 classes
    python scripts/image_cell_probe.py --output outputs/cells --policy outputs/cells/sft/policy   # score only

Prints one JSON line: the fraction of object cells predicted exactly, as background, with only the class wrong,
with only the colour wrong, as another object of the same scene, or with both wrong; background accuracy; the
fraction of grounded phrases whose class word the chain head predicts; SFT seconds. ``--config`` takes the
same YAML overrides as ``scripts/learning_evidence.py`` (``sft``, ``model``, ``world``, ...).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from gotr1.embedded import EmbeddedConfig, new_tiny_policy, sft_examples
from gotr1.models.janus import JanusPolicy
from gotr1.reasoning.chain import GOT_TOKENS
from gotr1.synthetic.codec import GridCodec
from gotr1.synthetic.world import GENEVAL_CLASSES, Sample, sample_dataset
from gotr1.tracking import JsonlLogger
from gotr1.training.sft import run_sft

HELD_OUT_SEED = 999


def cell_kind(true: int, predicted: int, scene_codes: set[int], codec: GridCodec) -> str:
    """What an object cell (``true`` != 0) was predicted as."""
    if predicted == true:
        return "exact"
    if predicted == 0:
        return "background"
    if predicted in scene_codes:
        return "another_object"
    cell, guess = codec.cell(true), codec.cell(predicted)
    assert cell is not None and guess is not None
    if cell[0] != guess[0] and cell[1] != guess[1]:
        return "both_wrong"
    return "class_wrong" if cell[0] != guess[0] else "colour_wrong"


@torch.no_grad()
def score(policy: JanusPolicy, held_out: list[Sample], batch: int = 32) -> dict[str, float]:
    codec = policy.codec
    assert isinstance(codec, GridCodec)
    policy.model.eval()
    kinds: Counter[str] = Counter()
    background = background_ok = words = words_ok = 0
    obj_start = policy.tokenizer.convert_tokens_to_ids(GOT_TOKENS[0])
    for lo in range(0, len(held_out), batch):
        scenes = held_out[lo : lo + batch]
        images = torch.as_tensor(np.stack([s.grid.reshape(-1) for s in scenes]), dtype=torch.long)
        rollout = policy.teacher_batch([s.prompt for s in scenes], [s.chain_text for s in scenes], images)
        text_logits, image_logits = policy.span_logits(rollout)
        predicted = image_logits.argmax(-1)
        for row in range(len(scenes)):
            codes = set(images[row].tolist())
            for true, guess in zip(images[row].tolist(), predicted[row].tolist(), strict=True):
                if true == 0:
                    background += 1
                    background_ok += guess == 0
                else:
                    kinds[cell_kind(true, guess, codes - {true}, codec)] += 1
        # "<|obj_start|>colour class": the class word is 3 tokens on; column t of the logits predicts token t.
        ids, guesses = rollout.chain_ids, text_logits.argmax(-1)
        for r, c in (ids == obj_start).nonzero().tolist():
            if c + 3 < ids.shape[1]:
                words += 1
                words_ok += int(guesses[r, c + 3] == ids[r, c + 3])
    cells = sum(kinds.values())
    kind_names = ("exact", "background", "class_wrong", "colour_wrong", "another_object", "both_wrong")
    out = {f"object_cells/{k}": kinds[k] / max(cells, 1) for k in kind_names}
    out["background_accuracy"] = background_ok / max(background, 1)
    out["class_word_accuracy"] = words_ok / max(words, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, required=True, help="run folder (SFT checkpoints, metrics)")
    parser.add_argument("--config", type=Path, help="YAML overrides of EmbeddedConfig")
    parser.add_argument(
        "--all-classes", action="store_true", help="GenEval's 80 classes instead of the subset"
    )
    parser.add_argument("--policy", type=Path, help="score this SFT checkpoint instead of training one")
    parser.add_argument("--scenes", type=int, default=256, help="held-out scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = yaml.safe_load(args.config.read_text()) if args.config else {}
    overrides.pop("policy", None)
    if args.all_classes:
        overrides["world"] = {**overrides.get("world", {}), "classes": list(GENEVAL_CLASSES)}
    config = EmbeddedConfig.from_dict({**overrides, "seed": args.seed})
    result: dict[str, Any] = {"classes": len(config.world.classes)}
    if args.policy is None:
        examples = sft_examples(config)
        policy = new_tiny_policy(config, [t for e in examples for t in (e.prompt, e.chain)])
        start = time.perf_counter()
        logger = JsonlLogger(args.output / "sft" / "metrics.jsonl")
        run_sft(config.sft, policy, examples, args.output / "sft", logger, progress=False)
        result["sft_steps"], result["sft_seconds"] = config.sft.steps, round(time.perf_counter() - start)
    else:
        policy = JanusPolicy.from_pretrained(args.policy)
    held_out = sample_dataset(config.world, args.scenes, seed=HELD_OUT_SEED)
    result.update(score(policy, held_out))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()

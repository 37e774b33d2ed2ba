"""What every trainable policy of gotr1 shares: its device, LoRA state, the KL reference, saving
weights with or without adapters, prompt rows in GoT-R1's template and left-padded packing.

:class:`gotr1.models.janus.JanusPolicy` and :class:`gotr1.models.planner.PlannerPolicy` mix this in; each sets
``model`` (the transformers model being trained), ``_peft`` (its peft wrapper once LoRA is added, else None),
``_frozen_reference`` (a frozen copy for full fine-tuning, else None), ``tokenizer``, ``pad_id`` and
``bos_id`` (None when the tokenizer has no BOS token).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from gotr1.models.tokenizer import format_prompt

__all__ = ["TrainablePolicyMixin"]


class TrainablePolicyMixin:
    model: Any
    _peft: Any
    _frozen_reference: Any
    pad_id: int
    bos_id: int | None
    tokenizer: Any

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def has_lora(self) -> bool:
        return self._peft is not None

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters with ``requires_grad`` (the adapters only, once LoRA is added)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def freeze_reference(self) -> None:
        """Keep a frozen copy of the current weights as the KL reference (full fine-tuning, no adapters)."""
        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        self._frozen_reference = ref

    @contextmanager
    def reference(self) -> Iterator[None]:
        """Within the context the policy is the reference: LoRA adapters disabled, or the frozen copy swapped in.

        Raises:
            RuntimeError: neither adapters nor a frozen copy exist (full fine-tuning must call
                :meth:`freeze_reference` before training).
        """
        if self._peft is not None:
            with self._peft.disable_adapter():
                yield
        elif self._frozen_reference is not None:
            live, self.model = self.model, self._frozen_reference
            try:
                yield
            finally:
                self.model = live
        else:
            raise RuntimeError(
                "no reference policy: the policy has no LoRA adapters to disable; for full fine-tuning keep a "
                "frozen copy with policy.freeze_reference() before the first update"
            )

    def _save_weights(self, path: Path, merge_lora: bool) -> None:
        """Base weights as safetensors in ``path`` and LoRA adapters in peft's format under ``path/adapter``, or
        the adapters folded into the weights (``merge_lora``; the live policy keeps its adapters either way)."""
        if self._peft is not None and not merge_lora:
            self._peft.save_pretrained(path / "adapter")
            state = {
                k.replace(".base_layer", ""): v
                for k, v in self._peft.get_base_model().state_dict().items()
                if "lora_" not in k
            }
            self._peft.get_base_model().save_pretrained(path, state_dict=state, safe_serialization=True)
        elif self._peft is not None:
            copy.deepcopy(self._peft).merge_and_unload().save_pretrained(path, safe_serialization=True)
        else:
            self.model.save_pretrained(path, safe_serialization=True)

    def _prompt_rows(self, prompts: Sequence[str]) -> list[list[int]]:
        """Each prompt in GoT-R1's template, tokenized, after ``<bos>`` when the tokenizer has one."""
        encoded = self.tokenizer([format_prompt(p) for p in prompts], add_special_tokens=False).input_ids
        prefix = [] if self.bos_id is None else [self.bos_id]
        return [[*prefix, *ids] for ids in encoded]

    def _pack(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad token rows -> ``[N, L]`` ids and attention mask on the policy's device."""
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r) :] = torch.as_tensor(r, dtype=torch.long)
                mask[i, width - len(r) :] = 1
        return ids.to(self.device), mask.to(self.device)

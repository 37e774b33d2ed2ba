"""The unified reason-then-generate policy around ``transformers.JanusForConditionalGeneration``.

One class at both scales: the tiny model built from a config for the synthetic world (grid codec) and Janus-Pro
(VQ codec, :mod:`gotr1.models.janus_pro`). The image codec is the only seam where they differ.

Token layout of one rollout (the same when sampling, when recomputing log-probs and in SFT)::

    [pad ... pad | <bos> prompt-template tokens | chain tokens ... <begin_of_image> | image tokens (Li)]
     left padding   prompt span                   chain span (Lc, right-aligned)     image span

Text tokens are embedded by the language model's embeddings and scored by ``lm_head``; image tokens are embedded
by ``generation_embeddings -> generation_aligner`` and scored by ``generation_head``, as Janus does. Positions
count only attended tokens, so left padding never changes a log-prob.

Sampling (GOT-R1-FACTS.md section 2): the chain from the text head until ``<begin_of_image>`` or
``max_chain_tokens`` (then ``<begin_of_image>`` is appended and not trained on); then ``Li`` image tokens from the
image head with classifier-free guidance ``uncond + w * (cond - uncond)``, where the unconditional row replaces
every token of prompt and chain except the first and the last by padding. The log-probs recorded while sampling
are the CONDITIONAL policy's at the sampling temperature: CFG only shapes which token is drawn, and the GRPO
ratio and KL are taken on the conditional policy, which is what the training forward computes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    JanusConfig,
    JanusForConditionalGeneration,
    JanusVisionConfig,
    JanusVQVAEConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
)
from transformers.cache_utils import DynamicCache

from gotr1.models.base import ImageCodec, Rollout, SpanLogprobs
from gotr1.models.codecs import codec_from_dict, codec_to_dict
from gotr1.models.tokenizer import format_prompt
from gotr1.reasoning.chain import BEGIN_OF_IMAGE

__all__ = ["GenerationSettings", "JanusPolicy", "TinyJanusConfig"]

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class TinyJanusConfig:
    """Size of the tiny Janus built from scratch (about 1.4M parameters in use at the defaults)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 512

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )
        if min(self.hidden_size, self.num_layers, self.num_heads, self.intermediate_size) < 1:
            raise ValueError("TinyJanusConfig sizes must be positive")


@dataclass(frozen=True)
class GenerationSettings:
    """How rollouts sample (GoT-R1 defaults: temperatures 1.0, CFG 5; chains up to 600 tokens at full scale)."""

    max_chain_tokens: int = 96
    text_temperature: float = 1.0
    image_temperature: float = 1.0
    cfg_scale: float = 5.0

    def __post_init__(self) -> None:
        if self.max_chain_tokens < 2:
            raise ValueError(f"max_chain_tokens must be >= 2, got {self.max_chain_tokens}")
        if self.text_temperature <= 0 or self.image_temperature <= 0:
            raise ValueError("temperatures must be > 0")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")


def _tiny_janus_config(size: TinyJanusConfig, vocab_size: int, codec: ImageCodec, pad_id: int) -> JanusConfig:
    side = round(codec.num_tokens**0.5)
    if side * side != codec.num_tokens:
        raise ValueError(
            f"codec.num_tokens={codec.num_tokens} must be a square (Janus generates a square grid)"
        )
    h = size.hidden_size
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=h,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_heads,
        max_position_embeddings=size.max_positions,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
    )
    # The understanding tower is unused by generation; it is kept minimal but real.
    vision = JanusVisionConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16 * side,
        patch_size=16,
        projection_dim=h,
        num_image_tokens=codec.num_tokens,
        depth=1,
    )
    vq = JanusVQVAEConfig(
        num_embeddings=codec.vocab_size,
        embed_dim=8,
        latent_channels=8,
        base_channels=32,
        channel_multiplier=[1, 1],
        num_res_blocks=1,
        projection_dim=h,
        image_token_embed_dim=h,
    )
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq)
    config.text_config._attn_implementation = "eager"
    return config


class JanusPolicy:
    """A Janus model, its tokenizer and its image codec, behind the :class:`gotr1.models.base.Policy` seam."""

    def __init__(
        self,
        model: JanusForConditionalGeneration,
        tokenizer: PreTrainedTokenizerFast,
        codec: ImageCodec,
        generation: GenerationSettings | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.generation = generation or GenerationSettings()
        self.pad_id = int(tokenizer.pad_token_id)
        self.bos_id = int(tokenizer.bos_token_id)
        self.boi_id = int(tokenizer.convert_tokens_to_ids(BEGIN_OF_IMAGE))
        self._peft: Any = None
        self._frozen_reference: JanusForConditionalGeneration | None = None

    # ----------------------------------------------------------------------------------------- construction
    @classmethod
    def tiny(
        cls,
        tokenizer: PreTrainedTokenizerFast,
        codec: ImageCodec,
        size: TinyJanusConfig | None = None,
        generation: GenerationSettings | None = None,
        seed: int = 0,
    ) -> JanusPolicy:
        """A tiny Janus from a config (no download), randomly initialised with ``seed``."""
        torch.manual_seed(seed)
        config = _tiny_janus_config(
            size or TinyJanusConfig(), len(tokenizer), codec, int(tokenizer.pad_token_id)
        )
        return cls(JanusForConditionalGeneration(config).float(), tokenizer, codec, generation)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def has_lora(self) -> bool:
        return self._peft is not None

    def add_lora(
        self, r: int = 32, alpha: int = 32, dropout: float = 0.0, include_image_head: bool = False
    ) -> None:
        """Wrap the language model's attention and MLP projections (and optionally the image head) in LoRA."""
        from peft import LoraConfig, get_peft_model

        targets = LORA_TARGETS
        if include_image_head:
            targets = rf"({LORA_TARGETS}|.*generation_head\.(proj_out|vision_head))"
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
        self._peft = get_peft_model(self.model, config)

    def merge_lora(self) -> None:
        """Fold the adapters into the base weights (for export); the policy has no adapters afterwards."""
        if self._peft is None:
            raise ValueError("merge_lora: the policy has no LoRA adapters")
        self.model = self._peft.merge_and_unload()
        self._peft = None

    def freeze_reference(self) -> None:
        """Keep a frozen copy of the current weights as the KL reference (full fine-tuning)."""
        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        self._frozen_reference = ref

    @contextmanager
    def reference(self) -> Iterator[None]:
        """Within the context, :meth:`logprobs` computes the reference policy (adapters off, or the frozen copy)."""
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
            raise RuntimeError("no reference policy: add LoRA adapters or call freeze_reference() first")

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    # ----------------------------------------------------------------------------------------- embeddings
    def _embed(self, text_ids: torch.Tensor, image_ids: torch.Tensor | None) -> torch.Tensor:
        embeds = self.model.get_input_embeddings()(text_ids)
        if image_ids is not None and image_ids.shape[1] > 0:
            embeds = torch.cat([embeds, self.model.prepare_embeddings_for_image_generation(image_ids)], dim=1)
        return embeds

    def _hidden(
        self,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache | None = None,
    ) -> torch.Tensor:
        out = self.model.model.language_model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=cache is not None,
        )
        return out.last_hidden_state

    @staticmethod
    def _positions(mask: torch.Tensor) -> torch.Tensor:
        return (mask.long().cumsum(-1) - 1).clamp(min=0)

    # ----------------------------------------------------------------------------------------- batches
    def _prompt_ids(self, prompts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer([format_prompt(p) for p in prompts], add_special_tokens=False).input_ids
        return [[self.bos_id, *ids] for ids in encoded]

    def _pack(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad token rows -> ``[N, L]`` ids and mask."""
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r) :] = torch.as_tensor(r, dtype=torch.long)
                mask[i, width - len(r) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def _batch(
        self,
        prompts: Sequence[str],
        group_size: int,
        prompt_rows: Sequence[Sequence[int]],
        chain_rows: Sequence[Sequence[int]],
        chain_trained: Sequence[Sequence[bool]],
        image_ids: torch.Tensor,
    ) -> Rollout:
        """Assemble a :class:`Rollout`: each row's prompt + chain is contiguous and left-padded as one sequence.

        The chain span is the last ``Lc`` text columns (``Lc`` = longest chain); in rows with a shorter chain its
        first columns hold prompt tokens, which ``chain_mask`` leaves out.
        """
        ids, attn = self._pack([[*p, *c] for p, c in zip(prompt_rows, chain_rows, strict=True)])
        lc = max(len(c) for c in chain_rows)
        split = ids.shape[1] - lc
        chain_mask = torch.zeros((len(chain_rows), lc), dtype=torch.long)
        for i, t in enumerate(chain_trained):
            chain_mask[i, lc - len(t) :] = torch.as_tensor(t, dtype=torch.long)
        prompt_ids, prompt_mask = ids[:, :split], attn[:, :split]
        chain_ids, chain_attn = ids[:, split:], attn[:, split:]
        n = len(chain_rows)
        texts = [self.tokenizer.decode(c, skip_special_tokens=False) for c in chain_rows]
        return Rollout(
            prompts=list(prompts),
            group_size=group_size,
            prompt_ids=prompt_ids,
            prompt_mask=prompt_mask,
            chain_ids=chain_ids.to(self.device),
            chain_mask=chain_mask.to(self.device),
            image_ids=image_ids.to(self.device),
            logprobs=SpanLogprobs(torch.zeros(n, lc), torch.zeros(n, image_ids.shape[1])),
            chain_texts=texts,
            images=self.codec.decode(image_ids) if image_ids.shape[1] else [],
            chain_attention=chain_attn.to(self.device),
        )

    def teacher_batch(
        self,
        prompts: Sequence[str],
        chain_texts: Sequence[str],
        image_ids: torch.Tensor,
        drop_condition: torch.Tensor | None = None,
    ) -> Rollout:
        """A teacher-forcing batch for SFT in the rollout layout (one row per example, group size 1).

        Rows where ``drop_condition`` is true become unconditional (prompt and chain replaced by padding except
        the first and last token, as the CFG unconditional row); their chain span is not trained.
        """
        prompt_rows = self._prompt_ids(prompts)
        chain_rows = [self.tokenizer(t, add_special_tokens=False).input_ids for t in chain_texts]
        for text, row in zip(chain_texts, chain_rows, strict=True):
            if not row or row[-1] != self.boi_id:
                raise ValueError(f"SFT chains must end with {BEGIN_OF_IMAGE}: {text[-60:]!r}")
        trained = [[True] * len(c) for c in chain_rows]
        batch = self._batch(prompts, 1, prompt_rows, chain_rows, trained, image_ids)
        if drop_condition is not None:
            batch = self._unconditional(batch, drop_condition.to(self.device))
        return batch

    def _unconditional(self, batch: Rollout, rows: torch.Tensor) -> Rollout:
        """Replace prompt and chain of the selected rows by padding, keeping the first and last token."""
        ids = torch.cat([batch.prompt_ids, batch.chain_ids], dim=1)
        attn = torch.cat([batch.prompt_mask, batch.chain_attention], dim=1)
        first = attn.long().argmax(dim=1)
        keep = torch.zeros_like(ids, dtype=torch.bool)
        keep[torch.arange(len(ids)), first] = True
        keep[:, -1] = True
        dropped = torch.where(rows[:, None] & ~keep, torch.full_like(ids, self.pad_id), ids)
        lp = batch.prompt_ids.shape[1]
        return Rollout(
            prompts=batch.prompts,
            group_size=batch.group_size,
            prompt_ids=dropped[:, :lp],
            prompt_mask=batch.prompt_mask,
            chain_ids=dropped[:, lp:],
            chain_mask=batch.chain_mask * (~rows[:, None]).long(),
            image_ids=batch.image_ids,
            logprobs=batch.logprobs,
            chain_texts=batch.chain_texts,
            images=batch.images,
            chain_attention=batch.chain_attention,
        )

    # ----------------------------------------------------------------------------------------- scoring
    def logprobs(self, rollout: Rollout, temperature: tuple[float, float] | None = None) -> SpanLogprobs:
        """Per-token log-probs of the chain and image spans from one teacher-forced forward pass.

        Returns ``[N, Lc]`` and ``[N, Li]`` tensors (0 where the chain mask is 0), with gradients when enabled.
        ``temperature`` defaults to the generation settings' (text, image) temperatures.
        """
        t_text, t_image = temperature or (self.generation.text_temperature, self.generation.image_temperature)
        ids = torch.cat([rollout.prompt_ids, rollout.chain_ids], dim=1)
        mask = torch.cat([rollout.prompt_mask, rollout.chain_attention], dim=1)
        li = rollout.image_ids.shape[1]
        full_mask = torch.cat([mask, torch.ones_like(rollout.image_ids)], dim=1)
        hidden = self._hidden(self._embed(ids, rollout.image_ids), full_mask, self._positions(full_mask))
        lp, lc = rollout.prompt_ids.shape[1], rollout.chain_ids.shape[1]
        # Position t predicts token t + 1: chain tokens come from the text head, image tokens from the image head.
        text_logits = self.model.lm_head(hidden[:, lp - 1 : lp + lc - 1]).float() / t_text
        chain_lp = torch.gather(F.log_softmax(text_logits, -1), 2, rollout.chain_ids[..., None]).squeeze(-1)
        image_logits = (
            self.model.model.generation_head(hidden[:, lp + lc - 1 : lp + lc - 1 + li]).float() / t_image
        )
        image_lp = torch.gather(F.log_softmax(image_logits, -1), 2, rollout.image_ids[..., None]).squeeze(-1)
        return SpanLogprobs(chain_lp * rollout.chain_mask, image_lp)

    # ----------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def rollout(self, prompts: Sequence[str], group_size: int, *, seed: int | None = None) -> Rollout:
        """Sample ``group_size`` chains and images per prompt; rollout ``i`` belongs to prompt ``i // group_size``."""
        if group_size < 1 or not prompts:
            raise ValueError("rollout needs at least one prompt and group_size >= 1")
        gen = torch.Generator(device="cpu")
        if seed is not None:
            gen.manual_seed(seed)
        else:
            gen.seed()
        was_training = self.model.training
        self.model.eval()
        try:
            prompts_n = [p for p in prompts for _ in range(group_size)]
            prompt_rows = self._prompt_ids(prompts_n)
            chain_rows, chain_lps, trained = self._sample_chains(prompt_rows, gen)
            batch = self._batch(
                prompts,
                group_size,
                prompt_rows,
                chain_rows,
                trained,
                torch.zeros(len(prompts_n), 0, dtype=torch.long),
            )
            image_ids, image_lp = self._sample_image(batch, gen)
        finally:
            self.model.train(was_training)
        lc = batch.chain_ids.shape[1]
        chain_lp = torch.zeros(len(prompts_n), lc)
        for i, row in enumerate(chain_lps):
            chain_lp[i, lc - len(row) :] = torch.as_tensor(row)
        return Rollout(
            prompts=batch.prompts,
            group_size=group_size,
            prompt_ids=batch.prompt_ids,
            prompt_mask=batch.prompt_mask,
            chain_ids=batch.chain_ids,
            chain_mask=batch.chain_mask,
            image_ids=image_ids,
            logprobs=SpanLogprobs(chain_lp.to(self.device) * batch.chain_mask, image_lp),
            chain_texts=batch.chain_texts,
            images=self.codec.decode(image_ids),
            chain_attention=batch.chain_attention,
        )

    def _sample(self, logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        probs = F.softmax(logits.float(), dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1).to(logits.device)

    def _sample_chains(
        self, prompt_rows: list[list[int]], gen: torch.Generator
    ) -> tuple[list[list[int]], list[list[float]], list[list[bool]]]:
        """Text phase with a KV cache: sample until ``<begin_of_image>`` or the length limit."""
        n = len(prompt_rows)
        ids, mask = self._pack(prompt_rows)
        cache = DynamicCache()
        hidden = self._hidden(self._embed(ids, None), mask, self._positions(mask), cache)
        positions = self._positions(mask)[:, -1:]
        chains: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        temperature = self.generation.text_temperature
        for _ in range(self.generation.max_chain_tokens):
            logits = self.model.lm_head(hidden[:, -1]).float() / temperature
            token = self._sample(logits, gen)
            token_lp = torch.gather(F.log_softmax(logits, -1), 1, token[:, None]).squeeze(-1)
            for i in torch.nonzero(~done).flatten().tolist():
                chains[i].append(int(token[i]))
                lps[i].append(float(token_lp[i]))
            done |= token == self.boi_id
            if bool(done.all()):
                break
            mask = torch.cat([mask, (~done).long()[:, None]], dim=1)
            positions = positions + 1
            token = torch.where(done, torch.full_like(token, self.pad_id), token)
            hidden = self._hidden(self._embed(token[:, None], None), mask, positions, cache)
        trained = [[True] * len(c) for c in chains]
        for i in range(n):
            if (
                not chains[i] or chains[i][-1] != self.boi_id
            ):  # length limit: append <begin_of_image>, untrained
                chains[i].append(self.boi_id)
                lps[i].append(0.0)
                trained[i].append(False)
        return chains, lps, trained

    def _sample_image(self, batch: Rollout, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Image phase: ``Li`` tokens from the image head with CFG; conditional log-probs recorded."""
        n = len(batch.chain_texts)
        cfg = self.generation.cfg_scale
        uncond = self._unconditional(batch, torch.ones(n, dtype=torch.bool, device=self.device))
        ids = torch.cat([batch.prompt_ids, batch.chain_ids], dim=1)
        uids = torch.cat([uncond.prompt_ids, uncond.chain_ids], dim=1)
        mask = torch.cat([batch.prompt_mask, batch.chain_attention], dim=1)
        use_cfg = cfg != 1.0
        if use_cfg:
            ids, mask = torch.cat([ids, uids]), torch.cat([mask, mask])
        cache = DynamicCache()
        positions = self._positions(mask)
        hidden = self._hidden(self._embed(ids, None), mask, positions, cache)
        positions = positions[:, -1:]
        tokens = torch.zeros(n, self.codec.num_tokens, dtype=torch.long, device=self.device)
        lps = torch.zeros(n, self.codec.num_tokens, device=self.device)
        temperature = self.generation.image_temperature
        for k in range(self.codec.num_tokens):
            logits = self.model.model.generation_head(hidden[:, -1]).float()
            cond = logits[:n]
            guided = logits[n:] + cfg * (cond - logits[n:]) if use_cfg else cond
            token = self._sample(guided / temperature, gen)
            tokens[:, k] = token
            lps[:, k] = torch.gather(F.log_softmax(cond / temperature, -1), 1, token[:, None]).squeeze(-1)
            if k + 1 == self.codec.num_tokens:
                break
            step = torch.cat([token, token]) if use_cfg else token
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions + 1
            hidden = self._hidden(
                self.model.prepare_embeddings_for_image_generation(step[:, None]), mask, positions, cache
            )
        return tokens, lps

    # ----------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | Path, merge_lora: bool = False) -> None:
        """Hugging Face layout: model safetensors + config, tokenizer, ``codec.json``, ``generation.json``;
        LoRA adapters (peft format) under ``adapter/`` unless merged."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self._peft is not None and not merge_lora:
            self._peft.save_pretrained(path / "adapter")
            base = self._peft.get_base_model()
            with self._peft.disable_adapter():
                _save_base(base, path)
        elif self._peft is not None:
            merged = copy.deepcopy(self._peft).merge_and_unload()
            merged.save_pretrained(path, safe_serialization=True)
        else:
            self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        (path / "codec.json").write_text(json.dumps(codec_to_dict(self.codec), indent=2))
        (path / "generation.json").write_text(json.dumps(asdict(self.generation), indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path, **model_kwargs: Any) -> JanusPolicy:
        """Load what :meth:`save_pretrained` wrote (adapters included when present)."""
        path = Path(path)
        for required in ("config.json", "codec.json", "generation.json"):
            if not (path / required).is_file():
                raise FileNotFoundError(f"{path} is not a gotr1 Janus checkpoint: {required} is missing")
        model = JanusForConditionalGeneration.from_pretrained(path, **model_kwargs)
        model.config.text_config._attn_implementation = "eager"
        tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
        codec = codec_from_dict(json.loads((path / "codec.json").read_text()), model=model)
        generation = GenerationSettings(**json.loads((path / "generation.json").read_text()))
        policy = cls(model, tokenizer, codec, generation)
        if (path / "adapter").is_dir():
            from peft import PeftModel

            policy._peft = PeftModel.from_pretrained(model, path / "adapter", is_trainable=True)
        return policy


def _save_base(model: JanusForConditionalGeneration, path: Path) -> None:
    """Save the base weights of a peft-wrapped model without the LoRA tensors."""
    state = {k.replace(".base_layer", ""): v for k, v in model.state_dict().items() if "lora_" not in k}
    model.save_pretrained(path, state_dict=state, safe_serialization=True)

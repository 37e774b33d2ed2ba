"""The unified reason-then-generate policy around ``transformers.JanusForConditionalGeneration``.

One class at both scales: the tiny model built from a config for the synthetic world (grid codec) and Janus-Pro
(VQ codec, :mod:`gotr1.models.janus_pro`). The image codec is the only seam where they differ.

Token layout of one rollout (the same when sampling, when recomputing log-probs and in SFT)::

    [pad ... pad | <bos> prompt-template tokens | chain tokens ... <begin_of_image> | image tokens (Li)]
     left padding   prompt span (Lp columns)      chain span (Lc columns)            image span

Each row's prompt + chain is one contiguous, left-padded text sequence; the chain span is its last ``Lc``
columns (``Lc`` = the longest chain), so a shorter chain's first chain columns hold the end of its prompt and
``chain_mask`` is 0 there. Text tokens are embedded by the language model's embeddings and scored by ``lm_head``;
image tokens are embedded by ``generation_embeddings -> generation_aligner`` and scored by ``generation_head``,
as Janus does. Positions count only attended tokens, so left padding never changes a log-prob.

Sampling (GOT-R1-FACTS.md section 2): the chain from the text head until ``<begin_of_image>`` or
``max_chain_tokens`` sampled tokens (then ``<begin_of_image>`` is appended, attended, and not trained on); then
the batch is re-packed as left-padded ``[prompt + chain]`` rows ending in ``<begin_of_image>``, prefilled with a
fresh KV cache, and ``Li`` image tokens are drawn from the image head with classifier-free guidance
``uncond + w * (cond - uncond)``, where the unconditional row replaces every token of prompt and chain except the
first (``<bos>``) and the last (``<begin_of_image>``) by padding (:func:`unconditional_ids`).

The image log-probs recorded while sampling follow ``generation.image_logprobs``: the CONDITIONAL policy's at the
sampling temperature (CFG only shapes which token is drawn), or the GUIDED distribution's, the one each token was
drawn from. :meth:`logprobs` computes the same in one teacher-forced pass (guided: over each row and its
unconditional twin), so a GRPO ratio and KL are taken on the distribution the settings name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from transformers import JanusForConditionalGeneration, PreTrainedTokenizerFast

from gotr1.models.adapters import TrainablePolicyMixin
from gotr1.models.base import ImageCodec, Rollout, SpanLogprobs
from gotr1.models.codecs import codec_from_dict, codec_to_dict
from gotr1.models.decoding import StepDecoder, positions_from_mask, sample, sample_chains, token_logprobs
from gotr1.models.janus_config import GenerationSettings, TinyJanusConfig, tiny_janus_config
from gotr1.reasoning.chain import BEGIN_OF_IMAGE

__all__ = ["LORA_TARGETS", "GenerationSettings", "JanusPolicy", "TinyJanusConfig", "unconditional_ids"]

# peft regex over module names: the language model's attention and MLP projections.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
_IMAGE_HEAD_TARGETS = r".*generation_head\.(proj_out|vision_head)"


def unconditional_ids(
    ids: torch.Tensor, attention: torch.Tensor, rows: torch.Tensor, pad_id: int
) -> torch.Tensor:
    """Janus's unconditional rows: in the selected rows, every attended token except the first and the last
    column becomes ``pad_id`` (the attention mask is unchanged, as in Janus).

    Args:
        ids: ``[N, L]`` left-padded prompt + chain tokens (the last column is ``<begin_of_image>``).
        attention: ``[N, L]`` 1 on real tokens.
        rows: ``[N]`` bool, the rows to make unconditional.
        pad_id: the padding token.

    Returns:
        ``[N, L]`` ids; unselected rows unchanged.
    """
    first = attention.long().argmax(dim=1)
    keep = torch.zeros_like(ids, dtype=torch.bool)
    keep[torch.arange(ids.shape[0], device=ids.device), first] = True
    keep[:, -1] = True
    return torch.where(rows.bool()[:, None] & ~keep, torch.full_like(ids, pad_id), ids)


def _with_unconditional_twins(rollout: Rollout, pad_id: int) -> Rollout:
    """``2N`` rows: the rollout's, then the same rows with prompt and chain made unconditional (as sampled)."""
    ids = torch.cat([rollout.prompt_ids, rollout.chain_ids], dim=1)
    mask = torch.cat([rollout.prompt_mask, rollout.chain_attention], dim=1)
    everyone = torch.ones(len(rollout), dtype=torch.bool, device=ids.device)
    uncond = unconditional_ids(ids, mask, everyone, pad_id)
    lp = rollout.prompt_ids.shape[1]

    def twice(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, t])

    return replace(
        rollout,
        prompt_ids=torch.cat([rollout.prompt_ids, uncond[:, :lp]]),
        prompt_mask=twice(rollout.prompt_mask),
        chain_ids=torch.cat([rollout.chain_ids, uncond[:, lp:]]),
        chain_mask=twice(rollout.chain_mask),
        chain_attention=twice(rollout.chain_attention),
        image_ids=twice(rollout.image_ids),
        logprobs=SpanLogprobs(twice(rollout.logprobs.chain), twice(rollout.logprobs.image)),
    )


class JanusPolicy(TrainablePolicyMixin):
    """A Janus model, its tokenizer and its image codec, behind the :class:`gotr1.models.base.Policy` seam.

    Attributes:
        model: the ``JanusForConditionalGeneration`` (LoRA layers injected in place by :meth:`add_lora`).
        tokenizer: the text tokenizer (the prompt template is applied by the policy).
        codec: the image codec (grid codec for the tiny world, Janus's VQ at full scale).
        generation: the sampling settings (replace with ``dataclasses.replace`` to change them).
        autocast_dtype: dtype :meth:`logprobs` autocasts to (``torch.bfloat16`` for training), ``None`` = exact
            fp32. Rollouts always run in the model's own dtype.
        trains_image_tokens: ``True``: the image head generates the image span and is trained on it (a planner's
            executor is not).
    """

    trains_image_tokens = True

    def __init__(
        self,
        model: JanusForConditionalGeneration,
        tokenizer: PreTrainedTokenizerFast,
        codec: ImageCodec,
        generation: GenerationSettings | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.codec = codec
        self.generation = generation or GenerationSettings()
        self.autocast_dtype = autocast_dtype
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
        """A tiny Janus from a config (no download), fp32, randomly initialised with ``seed``."""
        torch.manual_seed(seed)
        config = tiny_janus_config(
            size or TinyJanusConfig(), len(tokenizer), codec, int(tokenizer.pad_token_id)
        )
        return cls(JanusForConditionalGeneration(config).float(), tokenizer, codec, generation)

    def add_lora(
        self,
        r: int = 32,
        alpha: int = 32,
        dropout: float = 0.0,
        include_image_head: bool = False,
        target_modules: str | Sequence[str] | None = None,
    ) -> None:
        """Wrap modules in LoRA adapters (peft); afterwards only the adapters are trainable.

        Args:
            r, alpha, dropout: LoRA rank, scale numerator and dropout (GoT-R1: r = alpha = 32).
            include_image_head: also adapt the image head's two linear layers (GoT-R1 adapts the language
                model only; the image head is then frozen, the image span still trains through the
                transformer).
            target_modules: a peft regex or module-name list replacing the default (:data:`LORA_TARGETS`).
        """
        from peft import LoraConfig, get_peft_model

        if self._peft is not None:
            raise ValueError("add_lora: the policy already has LoRA adapters")
        targets: str | list[str] = LORA_TARGETS if target_modules is None else target_modules
        if isinstance(targets, str) and include_image_head:
            targets = rf"({targets}|{_IMAGE_HEAD_TARGETS})"
        elif include_image_head:
            targets = [*targets, "proj_out", "vision_head"]
        if not isinstance(targets, str):
            targets = list(targets)
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
        self._peft = get_peft_model(self.model, config)

    def merge_lora(self) -> None:
        """Fold the adapters into the base weights (for export); the policy has no adapters afterwards."""
        if self._peft is None:
            raise ValueError("merge_lora: the policy has no LoRA adapters")
        self.model = self._peft.merge_and_unload()
        self._peft = None

    # ----------------------------------------------------------------------------------------- batches
    def _embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def _layout(
        self,
        prompts: Sequence[str],
        group_size: int,
        prompt_rows: Sequence[Sequence[int]],
        chain_rows: Sequence[Sequence[int]],
        chain_trained: Sequence[Sequence[bool]],
        image_ids: torch.Tensor,
    ) -> Rollout:
        """A :class:`Rollout` in the shared layout, its log-probs still zero (see the module docstring)."""
        ids, attn = self._pack([[*p, *c] for p, c in zip(prompt_rows, chain_rows, strict=True)])
        n, lc = len(chain_rows), max(len(c) for c in chain_rows)
        split = ids.shape[1] - lc
        chain_mask = torch.zeros((n, lc), dtype=torch.long)
        for i, t in enumerate(chain_trained):
            chain_mask[i, lc - len(t) :] = torch.as_tensor(t, dtype=torch.long)
        image_ids = image_ids.to(self.device)
        return Rollout(
            prompts=list(prompts),
            group_size=group_size,
            prompt_ids=ids[:, :split],
            prompt_mask=attn[:, :split],
            chain_ids=ids[:, split:],
            chain_mask=chain_mask.to(self.device),
            image_ids=image_ids,
            logprobs=SpanLogprobs(
                torch.zeros(n, lc, device=self.device), torch.zeros(n, image_ids.shape[1], device=self.device)
            ),
            chain_texts=self.tokenizer.batch_decode(chain_rows, skip_special_tokens=False),
            images=self.codec.decode(image_ids) if image_ids.shape[1] else [],
            chain_attention=attn[:, split:],
        )

    def teacher_batch(
        self,
        prompts: Sequence[str],
        chain_texts: Sequence[str],
        image_ids: torch.Tensor,
        drop_condition: torch.Tensor | None = None,
    ) -> Rollout:
        """A teacher-forcing batch for SFT in the rollout layout (one row per example, ``group_size`` 1).

        SFT's loss is then ``-(logprobs(batch).chain.sum() / batch.chain_mask.sum())`` for the chain and
        ``-logprobs(batch).image.mean()`` for the image.

        Args:
            prompts: N captions (the template is applied here).
            chain_texts: N GoT chains, each ending with ``<begin_of_image>``.
            image_ids: ``[N, Li]`` codec tokens.
            drop_condition: ``[N]`` bool; those rows become CFG-unconditional (:func:`unconditional_ids`) and
                their chain span is not trained (``chain_mask`` 0), so only their image loss applies.

        Raises:
            ValueError: mismatched lengths, a chain without ``<begin_of_image>`` or with unknown tokens, image ids
                of the wrong shape or outside the codec's vocabulary.
        """
        n = len(prompts)
        if len(chain_texts) != n or image_ids.shape[0] != n:
            raise ValueError(
                f"teacher_batch: {n} prompts, {len(chain_texts)} chains and {image_ids.shape[0]} images differ"
            )
        if image_ids.ndim != 2 or image_ids.shape[1] != self.codec.num_tokens:
            raise ValueError(
                f"teacher_batch: image_ids must be [N, {self.codec.num_tokens}], got {image_ids.shape}"
            )
        if n and not 0 <= int(image_ids.min()) <= int(image_ids.max()) < self.codec.vocab_size:
            raise ValueError(f"teacher_batch: image ids must lie in [0, {self.codec.vocab_size})")
        chain_rows = self.tokenizer(list(chain_texts), add_special_tokens=False).input_ids
        unk = self.tokenizer.unk_token_id
        for i, (text, row) in enumerate(zip(chain_texts, chain_rows, strict=True)):
            if not row or row[-1] != self.boi_id:
                raise ValueError(
                    f"teacher_batch: chain {i} must end with {BEGIN_OF_IMAGE}: ...{text[-60:]!r}"
                )
            if unk is not None and unk in row:
                raise ValueError(f"teacher_batch: chain {i} has words the tokenizer does not know: {text!r}")
        trained = [[True] * len(c) for c in chain_rows]
        batch = self._layout(prompts, 1, self._prompt_rows(prompts), chain_rows, trained, image_ids)
        if drop_condition is None:
            return batch
        rows = drop_condition.to(self.device).bool()
        if rows.shape != (n,):
            raise ValueError(f"teacher_batch: drop_condition must be [{n}] bool, got {tuple(rows.shape)}")
        ids = torch.cat([batch.prompt_ids, batch.chain_ids], dim=1)
        attn = torch.cat([batch.prompt_mask, batch.chain_attention], dim=1)
        ids = unconditional_ids(ids, attn, rows, self.pad_id)
        lp = batch.prompt_ids.shape[1]
        return replace(
            batch,
            prompt_ids=ids[:, :lp],
            chain_ids=ids[:, lp:],
            chain_mask=batch.chain_mask * (~rows)[:, None].long(),
        )

    # ----------------------------------------------------------------------------------------- scoring
    def logprobs(
        self,
        rollout: Rollout,
        temperature: tuple[float, float] | None = None,
        guided: bool | None = None,
    ) -> SpanLogprobs:
        """Per-token log-probs of the chain and image spans from one teacher-forced forward pass.

        Args:
            rollout: a sampled rollout or a :meth:`teacher_batch`.
            temperature: (text, image) temperatures; defaults to the generation settings' (the sampling ones).
            guided: image log-probs under the CFG-guided distribution ``uncond + w * (cond - uncond)`` (the
                forward pass then also runs every row's unconditional twin); defaults to
                ``generation.guided``. SFT passes False: it trains the conditional model.

        Returns:
            ``[N, Lc]`` chain and ``[N, Li]`` image log-probs (chain 0 where ``chain_mask`` is 0), with gradients
            when grad is enabled; under ``autocast_dtype`` when set.
        """
        t_text, t_image = temperature or (self.generation.text_temperature, self.generation.image_temperature)
        guided = self.generation.guided if guided is None else guided and self.generation.cfg_scale != 1.0
        if guided:
            n, w = len(rollout), self.generation.cfg_scale
            text_logits, image_logits = self.span_logits(_with_unconditional_twins(rollout, self.pad_id))
            text_logits = text_logits[:n]
            image_logits = image_logits[n:] + w * (image_logits[:n] - image_logits[n:])
        else:
            text_logits, image_logits = self.span_logits(rollout)
        chain_lp = token_logprobs(text_logits / t_text, rollout.chain_ids)
        image_lp = token_logprobs(image_logits / t_image, rollout.image_ids)
        return SpanLogprobs(chain_lp * rollout.chain_mask, image_lp)

    def span_logits(self, rollout: Rollout) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw fp32 logits that predict each chain and image token: ``[N, Lc, V_text]`` and ``[N, Li, V_image]``.

        One forward pass over ``[prompt + chain + image[:-1]]`` (the last image token is only predicted).
        """
        text_ids = torch.cat([rollout.prompt_ids, rollout.chain_ids], dim=1)
        text_mask = torch.cat([rollout.prompt_mask, rollout.chain_attention], dim=1)
        lp, lc, li = rollout.prompt_ids.shape[1], rollout.chain_ids.shape[1], rollout.image_ids.shape[1]
        image_in = rollout.image_ids[:, :-1]
        mask = torch.cat([text_mask, torch.ones_like(image_in)], dim=1)
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else nullcontext()
        )
        with autocast:
            embeds = torch.cat(
                [self._embed_text(text_ids), self.model.prepare_embeddings_for_image_generation(image_in)],
                dim=1,
            )
            hidden = self.model.model.language_model(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=positions_from_mask(mask),
                use_cache=False,
            ).last_hidden_state
            # Column t predicts token t + 1: chain tokens from the text head, image tokens from the image head.
            text_logits = self.model.lm_head(hidden[:, lp - 1 : lp + lc - 1])
            image_logits = self.model.model.generation_head(hidden[:, lp + lc - 1 : lp + lc - 1 + li])
        return text_logits.float(), image_logits.float()

    # ----------------------------------------------------------------------------------------- sampling
    def rollout(self, prompts: Sequence[str], group_size: int, *, seed: int | None = None) -> Rollout:
        """Sample ``group_size`` chains and images per prompt (rollout ``i`` belongs to prompt ``i // group_size``).

        Runs under ``torch.inference_mode`` in eval mode, without autocast; the returned tensors are ordinary
        tensors that a later training forward can index with. The same ``seed`` gives the same rollout.
        """
        if group_size < 1 or not prompts:
            raise ValueError(f"rollout needs at least one prompt and group_size >= 1, got {group_size}")
        gen = torch.Generator(device="cpu")
        if seed is not None:
            gen.manual_seed(seed)
        else:
            gen.seed()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), torch.autocast(self.device.type, enabled=False):
                expanded = [p for p in prompts for _ in range(group_size)]
                prompt_rows = self._prompt_rows(expanded)
                chain_rows, chain_lps, trained = self._sample_chains(prompt_rows, gen)
                no_image = torch.zeros(len(expanded), 0, dtype=torch.long)
                batch = self._layout(prompts, group_size, prompt_rows, chain_rows, trained, no_image)
                image_ids, image_lp = self._sample_image(batch, gen)
                lc = batch.chain_ids.shape[1]
                chain_lp = torch.zeros(len(expanded), lc)
                for i, row in enumerate(chain_lps):
                    chain_lp[i, lc - len(row) :] = torch.as_tensor(row)
        finally:
            self.model.train(was_training)
        # Leaving inference mode: clones are ordinary tensors.
        return replace(
            batch,
            prompt_ids=batch.prompt_ids.clone(),
            prompt_mask=batch.prompt_mask.clone(),
            chain_ids=batch.chain_ids.clone(),
            chain_mask=batch.chain_mask.clone(),
            chain_attention=batch.chain_attention.clone(),
            image_ids=image_ids.clone(),
            logprobs=SpanLogprobs(chain_lp.to(self.device) * batch.chain_mask, image_lp.clone()),
            images=self.codec.decode(image_ids),
        )

    def _sample_chains(
        self, prompt_rows: list[list[int]], gen: torch.Generator
    ) -> tuple[list[list[int]], list[list[float]], list[list[bool]]]:
        """Text phase: sample until ``<begin_of_image>`` or ``max_chain_tokens``; returns token rows, their
        log-probs and which are trained (an appended ``<begin_of_image>`` is not)."""
        ids, mask = self._pack(prompt_rows)
        budget = self.generation.max_chain_tokens
        decoder = StepDecoder(self.model.model.language_model, self.generation.cache, ids.shape[1] + budget)
        return sample_chains(
            decoder,
            self._embed_text,
            self.model.lm_head,
            ids,
            mask,
            budget=budget,
            temperature=self.generation.text_temperature,
            pad_id=self.pad_id,
            stop_id=self.boi_id,
            generator=gen,
        )

    def _sample_image(self, batch: Rollout, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Image phase: ``Li`` tokens from the image head with CFG; their log-probs as ``generation.image_logprobs`` says."""
        n, li, cfg = len(batch), self.codec.num_tokens, self.generation.cfg_scale
        ids = torch.cat([batch.prompt_ids, batch.chain_ids], dim=1)
        mask = torch.cat([batch.prompt_mask, batch.chain_attention], dim=1)
        use_cfg = cfg != 1.0
        if use_cfg:  # rows [0, n) conditional, [n, 2n) unconditional
            everyone = torch.ones(n, dtype=torch.bool, device=self.device)
            ids = torch.cat([ids, unconditional_ids(ids, mask, everyone, self.pad_id)])
            mask = torch.cat([mask, mask])
        decoder = StepDecoder(self.model.model.language_model, self.generation.cache, ids.shape[1] + li - 1)
        hidden = decoder.prefill(self._embed_text(ids), mask)
        tokens = torch.zeros(n, li, dtype=torch.long, device=self.device)
        lps = torch.zeros(n, li, device=self.device)
        attend = torch.ones(len(ids), dtype=torch.bool, device=self.device)
        temperature = self.generation.image_temperature
        for k in range(li):
            logits = self.model.model.generation_head(hidden).float()
            cond = logits[:n]
            guided = logits[n:] + cfg * (cond - logits[n:]) if use_cfg else cond
            token = sample(guided / temperature, gen)
            scored = guided if self.generation.guided else cond
            tokens[:, k], lps[:, k] = token, token_logprobs(scored / temperature, token)
            if k + 1 == li:
                break
            step = torch.cat([token, token]) if use_cfg else token
            hidden = decoder.step(self.model.prepare_embeddings_for_image_generation(step[:, None]), attend)
        return tokens, lps

    # ----------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | Path, merge_lora: bool = False) -> None:
        """Write a Hugging Face checkpoint directory.

        Layout: ``config.json`` + ``model.safetensors`` (base weights), the tokenizer files, ``codec.json``
        (the codec's fields), ``generation.json`` (:class:`GenerationSettings`), and LoRA adapters in peft's
        format under ``adapter/`` (or folded into the weights with ``merge_lora=True``; the live policy keeps
        its adapters either way).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_weights(path, merge_lora)
        self.tokenizer.save_pretrained(path)
        (path / "codec.json").write_text(json.dumps(codec_to_dict(self.codec), indent=2))
        (path / "generation.json").write_text(json.dumps(asdict(self.generation), indent=2))

    @classmethod
    def from_pretrained(cls, path: str | Path, **model_kwargs: Any) -> JanusPolicy:
        """Load what :meth:`save_pretrained` wrote (adapters included, trainable, when present).

        ``model_kwargs`` go to ``JanusForConditionalGeneration.from_pretrained`` (``dtype``, ``device_map``).
        """
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

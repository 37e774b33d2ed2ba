"""The planner + executor policy: a causal LM writes the GoT chain, a frozen executor draws the image.

Any ``transformers`` causal LM is the planner (a tiny ``LlamaForCausalLM`` from a config in the synthetic world, a
pretrained Qwen2.5 / Llama at full scale); the executor (:mod:`gotr1.models.executors`) draws the image from the
chain's grounded objects: the world's painter, or diffusers' GLIGEN pipeline. GRPO trains the planner only.

Same surface and token layout as :class:`gotr1.models.janus.JanusPolicy`, so the GRPO trainer runs unchanged::

    [pad ... pad | (<bos>) prompt-template tokens | chain tokens ... <begin_of_image>] + image span (Li)
     left padding   prompt span (Lp columns)        chain span (Lc columns)

The chain is sampled from the planner at ``generation.text_temperature`` until ``<begin_of_image>`` or
``generation.max_chain_tokens`` sampled tokens (then ``<begin_of_image>`` is appended, attended and not trained).
The image span holds what the executor drew, as tokens where it has them (the world's grid tokens, ``Li = G*G``)
or nothing (GLIGEN, ``Li = 0``); it has no log-probs: ``logprobs.image`` is all zeros and carries no gradient, and
:attr:`PlannerPolicy.trains_image_tokens` is ``False`` so GRPO weighs the image span 0 (the loss is the chain's).
The image is still judged: ``r_ri`` and ``r_pi`` reach the planner through the advantages.

The GoT tokens and ``<begin_of_image>`` are added to the planner's tokenizer as special tokens when missing (the
embeddings are resized; new rows are untrained until SFT).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from gotr1.models.adapters import TrainablePolicyMixin
from gotr1.models.base import ImageCodec, Rollout, SpanLogprobs
from gotr1.models.decoding import StepDecoder, positions_from_mask, sample_chains, token_logprobs
from gotr1.models.executors import Executor, executor_from_dict
from gotr1.models.janus_config import GenerationSettings, TinyJanusConfig
from gotr1.reasoning.chain import BEGIN_OF_IMAGE, GOT_TOKENS, GoTChain, parse

__all__ = ["PLANNER_LORA_TARGETS", "PlannerPolicy"]

# peft regex over module names: every attention and MLP projection of a Llama/Qwen-style decoder.
PLANNER_LORA_TARGETS = r".*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
_MARKER = "planner.json"


class PlannerPolicy(TrainablePolicyMixin):
    """A causal-LM planner, its tokenizer and a frozen executor, behind the :class:`gotr1.models.base.Policy` seam.

    Attributes:
        model: the causal LM (LoRA layers injected in place by :meth:`add_lora`).
        tokenizer: its tokenizer, with the GoT tokens and ``<begin_of_image>`` as special tokens.
        executor: draws the images (never trained; its parameters are not the planner's).
        codec: the executor's image codec (what judges read images with).
        generation: the sampling settings; only ``max_chain_tokens``, ``text_temperature`` and the cache apply.
        autocast_dtype: dtype :meth:`logprobs` autocasts to, ``None`` = fp32.
        trains_image_tokens: ``False``: the image span has no log-probs (GRPO gives it weight 0).
    """

    trains_image_tokens = False

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        executor: Executor,
        generation: GenerationSettings | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        missing = [t for t in (*GOT_TOKENS, BEGIN_OF_IMAGE) if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_tokens(missing, special_tokens=True)
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is None:
                raise ValueError("the planner's tokenizer has neither a pad nor an eos token")
            tokenizer.pad_token = tokenizer.eos_token
        embeddings = model.get_input_embeddings()
        if len(tokenizer) > embeddings.weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        self.model = model
        self.tokenizer = tokenizer
        self.executor = executor
        self.codec: ImageCodec = executor.codec
        self.generation = generation or GenerationSettings(cfg_scale=1.0)
        self.autocast_dtype = autocast_dtype
        self.pad_id = int(tokenizer.pad_token_id)
        self.bos_id: int | None = None if tokenizer.bos_token_id is None else int(tokenizer.bos_token_id)
        self.boi_id = int(tokenizer.convert_tokens_to_ids(BEGIN_OF_IMAGE))
        self._peft: Any = None
        self._frozen_reference: PreTrainedModel | None = None

    # ----------------------------------------------------------------------------------------- construction
    @classmethod
    def tiny(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        executor: Executor,
        size: TinyJanusConfig | None = None,
        generation: GenerationSettings | None = None,
        seed: int = 0,
    ) -> PlannerPolicy:
        """A tiny ``LlamaForCausalLM`` planner from a config (no download), fp32, eager attention, seeded."""
        from transformers import LlamaConfig, LlamaForCausalLM

        size = size or TinyJanusConfig()
        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=size.hidden_size,
            intermediate_size=size.intermediate_size,
            num_hidden_layers=size.num_layers,
            num_attention_heads=size.num_heads,
            num_key_value_heads=size.num_heads,
            max_position_embeddings=size.max_positions,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            tie_word_embeddings=False,
            attn_implementation="eager",
        )
        return cls(LlamaForCausalLM(config).float(), tokenizer, executor, generation)

    def add_lora(
        self,
        r: int = 32,
        alpha: int = 32,
        dropout: float = 0.0,
        target_modules: str | Sequence[str] | None = None,
    ) -> None:
        """Wrap the planner's projections in LoRA adapters (peft); afterwards only the adapters train."""
        from peft import LoraConfig, get_peft_model

        if self._peft is not None:
            raise ValueError("add_lora: the planner already has LoRA adapters")
        targets = PLANNER_LORA_TARGETS if target_modules is None else target_modules
        if not isinstance(targets, str):
            targets = list(targets)
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
        self._peft = get_peft_model(self.model, config)

    # ----------------------------------------------------------------------------------------- batches
    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        embeddings: torch.Tensor = self.model.get_input_embeddings()(ids)
        return embeddings

    # ----------------------------------------------------------------------------------------- scoring
    def logprobs(
        self,
        rollout: Rollout,
        temperature: tuple[float, float] | None = None,
        guided: bool | None = None,
    ) -> SpanLogprobs:
        """Per-token log-probs of the chain (with gradients when enabled) from one teacher-forced pass.

        Args:
            rollout: a rollout of this policy.
            temperature: ``(text, image)``; defaults to the sampling text temperature (image unused).
            guided: accepted for the trainer's interface; the planner has no guidance.

        Returns:
            ``[N, Lc]`` chain log-probs (0 where ``chain_mask`` is 0) and ``[N, Li]`` zeros for the image span.
        """
        t_text = temperature[0] if temperature is not None else self.generation.text_temperature
        ids = torch.cat([rollout.prompt_ids, rollout.chain_ids], dim=1)
        mask = torch.cat([rollout.prompt_mask, rollout.chain_attention], dim=1)
        lp, lc = rollout.prompt_ids.shape[1], rollout.chain_ids.shape[1]
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else nullcontext()
        )
        with autocast:
            hidden = self.model.get_decoder()(
                inputs_embeds=self._embed(ids),
                attention_mask=mask,
                position_ids=positions_from_mask(mask),
                use_cache=False,
            ).last_hidden_state
            # Column t predicts token t + 1.
            logits = self.model.get_output_embeddings()(hidden[:, lp - 1 : lp + lc - 1])
        chain_lp = token_logprobs(logits.float() / t_text, rollout.chain_ids)
        # where, not a product: a padding column's logits may be non-finite under some attention kernels.
        chain_lp = torch.where(rollout.chain_mask.bool(), chain_lp, torch.zeros_like(chain_lp))
        image = torch.zeros(len(rollout), rollout.image_ids.shape[1], device=chain_lp.device)
        return SpanLogprobs(chain_lp, image)

    # ----------------------------------------------------------------------------------------- sampling
    def rollout(self, prompts: Sequence[str], group_size: int, *, seed: int | None = None) -> Rollout:
        """Sample ``group_size`` chains per prompt (rollout ``i`` answers prompt ``i // group_size``) and have the
        executor draw each; an unparseable chain reaches the executor as ``None`` (a blank canvas).

        The planner runs under ``torch.inference_mode`` in eval mode; the same ``seed`` gives the same rollout
        (the executor's per-image seeds derive from it).
        """
        if group_size < 1 or not prompts:
            raise ValueError(f"rollout needs at least one prompt and group_size >= 1, got {group_size}")
        gen = torch.Generator(device="cpu")
        if seed is not None:
            gen.manual_seed(seed)
        else:
            gen.seed()
        expanded = [p for p in prompts for _ in range(group_size)]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), torch.autocast(self.device.type, enabled=False):
                prompt_rows = self._prompt_rows(expanded)
                chain_rows, chain_lps, trained = self._sample_chains(prompt_rows, gen)
        finally:
            self.model.train(was_training)
        chain_texts = self.tokenizer.batch_decode(chain_rows, skip_special_tokens=False)
        parsed = [parse(t) for t in chain_texts]
        chains = [c if isinstance(c, GoTChain) else None for c in parsed]
        base = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        images = self.executor.draw(chains, expanded, [base + i for i in range(len(expanded))])
        image_ids = self.executor.image_ids(images).to(self.device)

        return self._layout(
            prompts, group_size, prompt_rows, chain_rows, trained, chain_lps, chain_texts, images, image_ids
        )

    def _layout(
        self,
        prompts: Sequence[str],
        group_size: int,
        prompt_rows: Sequence[Sequence[int]],
        chain_rows: Sequence[Sequence[int]],
        trained: Sequence[Sequence[bool]],
        chain_lps: Sequence[Sequence[float]],
        chain_texts: list[str],
        images: list[Any],
        image_ids: torch.Tensor,
    ) -> Rollout:
        """A :class:`Rollout` in the shared layout (JanusPolicy's): left-padded ``[prompt + chain]`` rows split at
        ``Lc`` = the longest chain; image log-probs zero."""
        ids, attn = self._pack([[*p, *c] for p, c in zip(prompt_rows, chain_rows, strict=True)])
        n, lc = len(chain_rows), max(len(c) for c in chain_rows)
        split = ids.shape[1] - lc
        chain_mask = torch.zeros((n, lc), dtype=torch.long)
        chain_lp = torch.zeros(n, lc)
        for i, (flags, row_lp) in enumerate(zip(trained, chain_lps, strict=True)):
            chain_mask[i, lc - len(flags) :] = torch.as_tensor(flags, dtype=torch.long)
            chain_lp[i, lc - len(row_lp) :] = torch.as_tensor(row_lp)
        chain_mask = chain_mask.to(self.device)
        return Rollout(
            prompts=list(prompts),
            group_size=group_size,
            prompt_ids=ids[:, :split],
            prompt_mask=attn[:, :split],
            chain_ids=ids[:, split:],
            chain_mask=chain_mask,
            image_ids=image_ids,
            logprobs=SpanLogprobs(
                chain_lp.to(self.device) * chain_mask,
                torch.zeros(n, image_ids.shape[1], device=self.device),
            ),
            chain_texts=chain_texts,
            images=images,
            chain_attention=attn[:, split:],
        )

    def teacher_batch(self, prompts: Sequence[str], chain_texts: Sequence[str]) -> Rollout:
        """A teacher-forcing batch (one row per example, ``group_size`` 1) for chain-only SFT of the planner:
        ``-(logprobs(batch).chain.sum() / batch.chain_mask.sum())`` is the chain's cross-entropy. The image span
        is empty (the executor is not trained) and ``images`` is empty.

        Raises:
            ValueError: mismatched lengths, or a chain that does not end with ``<begin_of_image>``.
        """
        if len(chain_texts) != len(prompts) or not prompts:
            raise ValueError(f"teacher_batch: {len(prompts)} prompts and {len(chain_texts)} chains")
        chain_rows = self.tokenizer(list(chain_texts), add_special_tokens=False).input_ids
        for i, (text, row) in enumerate(zip(chain_texts, chain_rows, strict=True)):
            if not row or row[-1] != self.boi_id:
                raise ValueError(
                    f"teacher_batch: chain {i} must end with {BEGIN_OF_IMAGE}: ...{text[-60:]!r}"
                )
        return self._layout(
            prompts,
            1,
            self._prompt_rows(prompts),
            chain_rows,
            [[True] * len(r) for r in chain_rows],
            [[0.0] * len(r) for r in chain_rows],
            list(chain_texts),
            [],
            torch.zeros(len(prompts), 0, dtype=torch.long, device=self.device),
        )

    def _sample_chains(
        self, prompt_rows: list[list[int]], gen: torch.Generator
    ) -> tuple[list[list[int]], list[list[float]], list[list[bool]]]:
        """Sample until ``<begin_of_image>`` or ``max_chain_tokens``; token rows, their log-probs and which are
        trained (an appended ``<begin_of_image>`` is not)."""
        ids, mask = self._pack(prompt_rows)
        budget = self.generation.max_chain_tokens
        decoder = StepDecoder(self.model.get_decoder(), self.generation.cache, ids.shape[1] + budget)
        return sample_chains(
            decoder,
            self._embed,
            self.model.get_output_embeddings(),
            ids,
            mask,
            budget=budget,
            temperature=self.generation.text_temperature,
            pad_id=self.pad_id,
            stop_id=self.boi_id,
            generator=gen,
        )

    # ----------------------------------------------------------------------------------------- persistence
    def save_pretrained(self, path: str | Path, merge_lora: bool = False) -> None:
        """Write the planner as a Hugging Face checkpoint, its tokenizer, ``generation.json``, ``executor.json``
        (which executor and its settings; the executor's own weights stay where they are) and ``planner.json``;
        LoRA adapters under ``adapter/`` (or merged with ``merge_lora=True``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_weights(path, merge_lora)
        self.tokenizer.save_pretrained(path)
        (path / "executor.json").write_text(json.dumps(self.executor.to_dict(), indent=2))
        (path / "generation.json").write_text(json.dumps(asdict(self.generation), indent=2))
        (path / _MARKER).write_text(json.dumps({"policy": "planner"}, indent=2))

    @classmethod
    def from_pretrained(
        cls, path: str | Path, executor: Executor | None = None, **model_kwargs: Any
    ) -> PlannerPolicy:
        """Load what :meth:`save_pretrained` wrote (adapters included, trainable, when present).

        Args:
            path: the checkpoint folder.
            executor: reuse this executor instead of rebuilding the saved one (e.g. a loaded GLIGEN pipeline).
            model_kwargs: for ``AutoModelForCausalLM.from_pretrained`` (``dtype``, ``device_map``, ...).
        """
        path = Path(path)
        for required in ("config.json", "executor.json", "generation.json", _MARKER):
            if not (path / required).is_file():
                raise FileNotFoundError(f"{path} is not a gotr1 planner checkpoint: {required} is missing")
        model = AutoModelForCausalLM.from_pretrained(path, **model_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path)
        if executor is None:
            executor = executor_from_dict(json.loads((path / "executor.json").read_text()))
        generation = GenerationSettings(**json.loads((path / "generation.json").read_text()))
        policy = cls(model, tokenizer, executor, generation)
        if (path / "adapter").is_dir():
            from peft import PeftModel

            policy._peft = PeftModel.from_pretrained(model, path / "adapter", is_trainable=True)
        return policy

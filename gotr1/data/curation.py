"""Data curation: read sources (local or ``s3://``), normalise, deduplicate, remove leakage, validate.

A dataset is a pandas DataFrame of GoT records, one row each:

| column | meaning |
|---|---|
| ``id`` | stable record id |
| ``prompt`` | the text prompt |
| ``chain`` | the GoT chain (ends with ``<begin_of_image>``) |
| ``image_tokens`` | the image as codec tokens, space-separated (``"0 0 12 ..."``; synthetic world), or empty |
| ``image_uri`` | the image file (path or URI) for real GoT data, or empty |
| ``spec_json`` | the GenEval-format scene spec as JSON, or empty |
| ``source`` | where the record came from |

Every column is a string: a DataFrame of hashable cells stays fast to describe, deduplicate and store (ZenML's
pandas visualisation runs ``describe`` on every column, quadratic on cells that hold arrays).

Validation uses Great Expectations 1.x directly (an ephemeral context over the DataFrame): a failing suite is a
:class:`DataValidationError` whose report lists every failed expectation with example rows.
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd
from PIL import Image

from gotr1.reasoning.chain import GoTChain, ParseFailure, parse
from gotr1.scenes.prompt_parser import parse_prompt
from gotr1.scenes.spec import SceneSpec
from gotr1.scenes.t2i_r1 import spec_from_tags

__all__ = [
    "COLUMNS",
    "Curated",
    "DataValidationError",
    "FailedExpectation",
    "ValidationReport",
    "curate",
    "dataset_statistics",
    "deduplicate",
    "load_geneval_prompts",
    "load_got_records",
    "load_prompt_lines",
    "load_rl_prompts",
    "load_t2i_r1_prompts",
    "normalise_prompt",
    "prompt_key",
    "read_image",
    "read_text",
    "records_from_samples",
    "remove_leakage",
    "render_validation_html",
    "require_valid",
    "tokens_from_text",
    "tokens_to_text",
    "validate_records",
]

COLUMNS: tuple[str, ...] = ("id", "prompt", "chain", "image_tokens", "image_uri", "spec_json", "source")


# ---------------------------------------------------------------------------------------------- sources
def read_text(uri: str, storage_options: dict[str, Any] | None = None) -> str:
    """Read a local path or a remote URI (``s3://bucket/key``; the endpoint comes from ``AWS_ENDPOINT_URL`` or
    ``storage_options={"client_kwargs": {"endpoint_url": ...}}``, credentials from the usual AWS variables)."""
    try:
        with fsspec.open(uri, "r", encoding="utf-8", **_options(uri, storage_options)) as f:
            text: str = f.read()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"data source not found: {uri}") from err
    return text


def read_image(uri: str, storage_options: dict[str, Any] | None = None) -> Image.Image:
    """An image file (local path or URI, as :func:`read_text` reads them) as RGB.

    Raises:
        FileNotFoundError: nothing at ``uri``.
        ValueError: the file is not an image PIL can read (the URI is in the message).
    """
    try:
        with fsspec.open(uri, "rb", **_options(uri, storage_options)) as f:
            data = f.read()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"image not found: {uri}") from err
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"{uri} is not a readable image: {err}") from err


def _options(uri: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(storage_options or {})
    if uri.startswith("s3://") and "client_kwargs" not in options and os.environ.get("AWS_ENDPOINT_URL"):
        options["client_kwargs"] = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}
    return options


def _jsonl(uri: str, storage_options: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(read_text(uri, storage_options).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{uri}, line {number}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise ValueError(f"{uri}, line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def tokens_to_text(tokens: Iterable[int]) -> str:
    """Codec tokens as the ``image_tokens`` cell: ``[0, 12, 3] -> "0 12 3"``."""
    return " ".join(str(int(t)) for t in tokens)


def tokens_from_text(text: str) -> list[int]:
    """The inverse of :func:`tokens_to_text`; raises ``ValueError`` on a cell that is not integers."""
    try:
        return [int(t) for t in text.split()]
    except ValueError as err:
        raise ValueError(f"image_tokens must be space-separated integers, got {text[:60]!r}") from err


def load_got_records(uri: str, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """GoT records JSONL (``prompt``, ``chain``, ``image`` path/URI or ``image_tokens``, optional ``spec``)."""
    rows = []
    for i, row in enumerate(_jsonl(uri, storage_options)):
        missing = [k for k in ("prompt", "chain") if k not in row]
        if missing:
            raise ValueError(f"{uri}, record {i + 1}: missing field(s) {missing}")
        rows.append(
            {
                "id": str(row.get("id", f"{uri}#{i}")),
                "prompt": row["prompt"],
                "chain": row["chain"],
                "image_tokens": tokens_to_text(row.get("image_tokens", [])),
                "image_uri": row.get("image", ""),
                "spec_json": json.dumps(row["spec"]) if row.get("spec") else "",
                "source": row.get("source", uri),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def load_geneval_prompts(uri: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """GenEval's ``evaluation_metadata.jsonl`` rows (tag, prompt, include, exclude)."""
    rows = _jsonl(uri, storage_options)
    for i, row in enumerate(rows, start=1):
        if "prompt" not in row or "include" not in row:
            raise ValueError(f"{uri}, line {i}: a GenEval row needs 'prompt' and 'include'")
    return rows


def load_t2i_r1_prompts(uri: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """T2I-R1's RL prompts (``prompt``, ``task_type``, ``nouns``, ``spatial_info``, ...); the last line of the public
    file has no final newline."""
    rows = _jsonl(uri, storage_options)
    for i, row in enumerate(rows, start=1):
        if not isinstance(row.get("prompt"), str):
            raise ValueError(f"{uri}, line {i}: a T2I-R1 row needs a 'prompt' string")
    return rows


def load_prompt_lines(uri: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """One prompt a line (T2I-CompBench ``<category>_{train,val}.txt``); blank lines are skipped."""
    return [line.strip() for line in read_text(uri, storage_options).splitlines() if line.strip()]


def load_rl_prompts(
    uri: str, storage_options: dict[str, Any] | None = None
) -> list[tuple[str, SceneSpec | None]]:
    """RL prompts with their scene specs where one can be known: a ``.jsonl`` file is T2I-R1's tagged prompts
    (specs from the tags, :func:`gotr1.scenes.t2i_r1.spec_from_tags`); any other file holds one prompt a line
    (specs from :func:`gotr1.scenes.prompt_parser.parse_prompt`). ``None``: no exact check exists for the prompt,
    which then needs a judge that does not need a spec (an MLLM)."""
    if uri.endswith(".jsonl"):
        return [(row["prompt"], spec_from_tags(row)) for row in load_t2i_r1_prompts(uri, storage_options)]
    return [(p, parse_prompt(p)) for p in load_prompt_lines(uri, storage_options)]


# ---------------------------------------------------------------------------------------------- cleaning
def normalise_prompt(text: str) -> str:
    """Unicode NFKC, unified line endings, collapsed whitespace, stripped."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\s+", " ", text).strip()


def prompt_key(text: str) -> str:
    """The comparison key of a prompt: normalised, lower case, without trailing punctuation."""
    return normalise_prompt(text).lower().rstrip(".!?")


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop records whose (prompt key, chain) repeats an earlier one; returns the rest and how many were dropped."""
    keys = df["prompt"].map(prompt_key) + "\x00" + df["chain"].astype(str)
    keep = ~keys.duplicated()
    return df[keep].reset_index(drop=True), int((~keep).sum())


def remove_leakage(df: pd.DataFrame, eval_prompts: Iterable[str]) -> tuple[pd.DataFrame, int]:
    """Drop training records whose prompt matches an evaluation prompt after normalisation."""
    forbidden = {prompt_key(p) for p in eval_prompts}
    leaked = df["prompt"].map(prompt_key).isin(forbidden)
    return df[~leaked].reset_index(drop=True), int(leaked.sum())


@dataclass(frozen=True)
class Curated:
    """What curation keeps for training (``records``, ``rl_prompts``) and how much of each it removed."""

    records: pd.DataFrame
    rl_prompts: pd.DataFrame
    duplicates_removed: int
    leakage_removed: int
    rl_prompts_leakage_removed: int


def curate(records: pd.DataFrame, rl_prompts: pd.DataFrame, eval_prompts: Iterable[str]) -> Curated:
    """The data stage's curation: records whose (prompt, chain) repeats are dropped (:func:`deduplicate`), then
    records and RL prompts matching an evaluation prompt after normalisation (:func:`remove_leakage`).

    No records at all is fine (a pretrained policy without GoT records goes straight to GRPO); records that
    curation removed to the last one, or no RL prompts, leave nothing to train on: ``ValueError``.
    """
    held_out = list(eval_prompts)
    kept, duplicates = deduplicate(records)
    kept, leaked = remove_leakage(kept, held_out)
    prompts, prompts_leaked = remove_leakage(rl_prompts, held_out)
    if (kept.empty and len(records)) or prompts.empty:
        raise ValueError(
            f"nothing left to train on after curation: {len(kept)} records, {len(prompts)} RL prompts "
            f"({duplicates} duplicates and {leaked} leaked records, {prompts_leaked} leaked prompts removed)"
        )
    return Curated(kept, prompts, duplicates, leaked, prompts_leaked)


# ---------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str
    unexpected_count: int
    examples: list[dict[str, Any]]


@dataclass(frozen=True)
class ValidationReport:
    success: bool
    rows: int
    evaluated: int
    failed: list[FailedExpectation] = field(default_factory=list)

    def summary(self) -> str:
        if self.success:
            return f"all {self.evaluated} expectations passed on {self.rows} records"
        parts = [f"{f.expectation}({f.column}): {f.unexpected_count} rows" for f in self.failed]
        return (
            f"{len(self.failed)} of {self.evaluated} expectations failed on {self.rows} records: "
            + "; ".join(parts)
        )


class DataValidationError(ValueError):
    """The data failed its expectation suite; ``report`` says which expectations and rows."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.summary())
        self.report = report


def _derived(df: pd.DataFrame, image_tokens_length: int | None) -> pd.DataFrame:
    parsed = [parse(c) if isinstance(c, str) else None for c in df["chain"]]
    out = pd.DataFrame({"id": df["id"].astype(str), "prompt": df["prompt"], "chain": df["chain"]})
    out["chain_parses"] = [isinstance(p, GoTChain) for p in parsed]
    out["parse_error"] = [
        p.kind.value if isinstance(p, ParseFailure) else ("" if p is not None else "not_text") for p in parsed
    ]
    out["coords_ok"] = ~out["parse_error"].isin(["out_of_range", "inverted_box", "malformed_coordinates"])
    out["prompt_length"] = df["prompt"].map(lambda p: len(p) if isinstance(p, str) else 0)
    out["chain_length"] = df["chain"].map(lambda c: len(c) if isinstance(c, str) else 0)

    def has_image(row: pd.Series) -> bool:
        text = row["image_tokens"]
        if isinstance(text, str) and text.strip():
            try:
                tokens = tokens_from_text(text)
            except ValueError:
                return False
            return image_tokens_length is None or len(tokens) == image_tokens_length
        uri = row["image_uri"]
        return isinstance(uri, str) and bool(uri.strip())

    out["has_image"] = df.apply(has_image, axis=1) if len(df) else pd.Series(dtype=bool)
    return out


def validate_records(
    df: pd.DataFrame,
    min_prompt_chars: int = 3,
    max_prompt_chars: int = 512,
    image_tokens_length: int | None = None,
    examples: int = 5,
) -> ValidationReport:
    """Run the GoT-record expectation suite with Great Expectations and collect every failure with examples."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"records lack column(s) {missing}; expected {list(COLUMNS)}")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # GE logs its import and an ephemeral context's set-up (hundreds of DEBUG/INFO lines) wherever the root logger
    # is verbose, as it is inside ZenML steps: only its warnings and errors are worth a user's screen.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    for name, each in logging.root.manager.loggerDict.items():  # GE pins some of its own loggers to INFO
        if name.startswith("great_expectations.") and isinstance(each, logging.Logger):
            each.setLevel(logging.WARNING)
    frame = _derived(df, image_tokens_length)
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name="got_records"))
    context.variables.progress_bars = {"globally": False}
    for expectation in (
        gxe.ExpectColumnValuesToNotBeNull(column="prompt"),
        gxe.ExpectColumnValuesToBeBetween(
            column="prompt_length", min_value=min_prompt_chars, max_value=max_prompt_chars
        ),
        gxe.ExpectColumnValuesToBeBetween(column="chain_length", min_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="chain_parses", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="coords_ok", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="has_image", value_set=[True]),
        gxe.ExpectColumnValuesToBeUnique(column="id"),
    ):
        suite.add_expectation(expectation)
    source = context.data_sources.add_pandas("records")
    batch = (
        source.add_dataframe_asset("got_records")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["id"]}
    )
    failed = []
    by_id = frame.set_index("id")
    for r in result.results:
        if r.success:
            continue
        column = str(r.expectation_config.kwargs.get("column", ""))
        ids = [
            str(i["id"]) if isinstance(i, dict) else str(i) for i in r.result.get("unexpected_index_list", [])
        ]
        rows = [
            {"id": i, **{k: by_id.loc[i, k] for k in ("prompt", "parse_error", column) if k in by_id.columns}}
            for i in ids[:examples]
            if i in by_id.index
        ]
        failed.append(
            FailedExpectation(
                r.expectation_config.type, column, int(r.result.get("unexpected_count", 0)), rows
            )
        )
    return ValidationReport(bool(result.success), len(df), len(result.results), failed)


def require_valid(report: ValidationReport) -> None:
    if not report.success:
        raise DataValidationError(report)


def render_validation_html(report: ValidationReport, title: str = "GoT record validation") -> str:
    """A readable HTML page: the verdict, then every failed expectation with example rows."""
    esc = html.escape
    parts = [
        f"<h2>{esc(title)}</h2>",
        f"<p><b>{'PASSED' if report.success else 'FAILED'}</b>: {esc(report.summary())}</p>",
    ]
    for f in report.failed:
        parts.append(
            f"<h3>{esc(f.expectation)} on <code>{esc(f.column)}</code>: {f.unexpected_count} rows</h3>"
        )
        if f.examples:
            keys = list(f.examples[0])
            head = "".join(f"<th>{esc(k)}</th>" for k in keys)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(str(row.get(k, '')))[:200]}</td>" for k in keys) + "</tr>"
                for row in f.examples
            )
            parts.append(f"<table border='1'><tr>{head}</tr>{body}</table>")
    return "<html><body style='font-family:sans-serif'>" + "".join(parts) + "</body></html>"


def dataset_statistics(df: pd.DataFrame) -> dict[str, Any]:
    """Counts and lengths to attach to a dataset artifact as metadata; ``sources`` maps each source (a URI, or
    ``synthetic-world``) to its row count (nested: ZenML refuses metadata keys with the colon of a URI)."""
    chains = [parse(c) for c in df["chain"]] if len(df) else []
    objects = [len(c.objects) for c in chains if isinstance(c, GoTChain)]
    stats: dict[str, Any] = {
        "rows": len(df),
        "mean_prompt_chars": float(df["prompt"].str.len().mean()) if len(df) else 0.0,
        "mean_chain_chars": float(df["chain"].str.len().mean()) if len(df) else 0.0,
        "mean_grounded_objects": sum(objects) / len(objects) if objects else 0.0,
        "parse_failures": len(chains) - len(objects),
    }
    stats["sources"] = {str(source): int(count) for source, count in df["source"].value_counts().items()}
    return stats


def records_from_samples(samples: Sequence[Any], source: str) -> pd.DataFrame:
    """Synthetic-world samples (:class:`gotr1.synthetic.world.Sample`) as GoT records."""
    rows = [
        {
            "id": f"{source}-{i}",
            "prompt": s.prompt,
            "chain": s.chain_text,
            "image_tokens": tokens_to_text(s.grid.reshape(-1).tolist()),
            "image_uri": "",
            "spec_json": json.dumps(s.spec.to_geneval()),
            "source": source,
        }
        for i, s in enumerate(samples)
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))

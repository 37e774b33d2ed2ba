"""Reports people want to look at: tables, plots (inline PNG, matplotlib Agg), and samples with the planned boxes
drawn over each image.

- :func:`render_report`: the pipelines' evaluation step (a metrics table with a column per model, samples);
- :func:`render_evaluation_html`: ``gotr1 evaluate``'s report.html (GenEval per tag for plans and images, rewards
  per group, out-of-vocabulary prompts, one or two models side by side, a sample grid);
- :func:`sample_with_boxes`, :func:`curves_png`, :func:`bar_chart_png`: the pieces.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw

from gotr1.evaluation.rollouts import EvaluatedSample
from gotr1.judges.base import COMPONENTS
from gotr1.models.base import ImageCodec
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.reasoning.geometry import box_to_pixels
from gotr1.reasoning.layout import LAYOUT_COLORS

__all__ = [
    "bar_chart_png",
    "curves_png",
    "png_data_url",
    "render_evaluation_html",
    "render_report",
    "sample_with_boxes",
]

_STYLE = (
    "body{font-family:sans-serif;margin:20px} table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #bbb;padding:3px 7px;text-align:right;font-size:13px} th{background:#eee}"
    "td:first-child{text-align:left} .ok{color:#1a7f37} .bad{color:#c62828} figure{margin:4px}"
    "figcaption{font-size:11px;max-width:260px;text-align:left} .row{display:flex;gap:8px;align-items:flex-start}"
)


def sample_with_boxes(image: Image.Image, chain_text: str) -> Image.Image:
    """The image with each planned box outlined and labelled with its phrase (a chain that does not parse
    leaves the image as it is)."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    chain = parse(chain_text)
    if isinstance(chain, GoTChain):
        for i, obj in enumerate(chain.objects):
            colour = LAYOUT_COLORS[i % len(LAYOUT_COLORS)]
            x1, y1, x2, y2 = box_to_pixels(obj.box, *out.size)
            draw.rectangle([x1, y1, x2, y2], outline=(255, 255, 255), width=4)
            inner = [x1 + 1, y1 + 1, max(x1 + 1, x2 - 1), max(y1 + 1, y2 - 1)]
            draw.rectangle(inner, outline=colour, width=2)
            left, top, right, bottom = draw.textbbox((x1 + 4, y1 + 3), obj.phrase)
            draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(255, 255, 255))
            draw.text((x1 + 4, y1 + 3), obj.phrase, fill=colour)
    return out


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure_png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves_png(series: Mapping[str, Sequence[tuple[int, float]]], title: str) -> str:
    """Line plots of metric series as an inline PNG data URL (matplotlib, Agg)."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.2))
    for name, points in series.items():
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    return _figure_png(fig)


def bar_chart_png(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], title: str, ylabel: str = "accuracy"
) -> str:
    """Grouped bars: one group per category, one bar per series (NaN bars are left out), as a PNG data URL."""
    fig, ax = _pyplot().subplots(figsize=(max(5.0, 0.9 * len(categories) * max(1, len(series)) ** 0.5), 3.4))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, [0.0 if math.isnan(v) else v for v in values], width, label=name)
    ax.set_xticks(range(len(categories)), list(categories), rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _figure_png(fig)


class _Raw(str):
    """Table cell content that is already HTML."""


def _fmt(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _caption(s: EvaluatedSample) -> str:
    esc = html.escape
    lines = []
    for label, ok, reason in (
        ("plan", s.plan_correct, s.plan_reason),
        ("image", s.image_correct, s.image_reason),
    ):
        if ok is not None:
            mark = (
                "<span class='ok'>correct</span>" if ok else f"<span class='bad'>wrong</span> {esc(reason)}"
            )
            lines.append(f"{label}: {mark}")
    scores = " ".join(f"{k[2:]}={_fmt(s.verdict.component(k))}" for k in COMPONENTS)
    lines.append(f"{scores} total={_fmt(s.total)}")
    if not s.parsed:
        lines.append("<span class='bad'>chain did not parse</span>")
    chain = s.chain_text if len(s.chain_text) <= 400 else s.chain_text[:400] + " ..."
    lines.append(f"<code style='font-size:10px'>{esc(chain)}</code>")
    return "<br/>".join(lines)


def _sample_figure(s: EvaluatedSample, codec: ImageCodec, with_prompt: bool) -> str:
    picture = sample_with_boxes(codec.to_pil(s.image), s.chain_text)
    prompt = f"<b>{html.escape(s.prompt)}</b><br/>" if with_prompt else ""
    return (
        f"<figure><img width='256' src='{png_data_url(picture)}'/>"
        f"<figcaption>{prompt}{_caption(s)}</figcaption></figure>"
    )


def render_report(
    title: str,
    columns: Mapping[str, Mapping[str, float]],
    samples: Sequence[EvaluatedSample],
    codec: ImageCodec,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    max_samples: int = 24,
) -> str:
    """HTML: a metrics table with one column per model, optional curves, and a grid of samples."""
    names = list(columns)
    keys = sorted({k for m in columns.values() for k in m})
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        _table(["metric", *names], [[k, *(columns[n].get(k, math.nan) for n in names)] for k in keys]),
    ]
    if curves:
        parts.append(f"<img src='{curves_png(curves, 'training curves')}'/>")
    parts.append(
        "<h2>Samples (planned boxes drawn over the image)</h2><div class='row' style='flex-wrap:wrap'>"
    )
    parts += [_sample_figure(s, codec, with_prompt=True) for s in samples[:max_samples]]
    parts.append("</div>")
    return f"<html><head><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"


# ---------------------------------------------------------------------------------------------- gotr1 evaluate
def _geneval_section(models: Sequence[Any]) -> list[str]:
    with_geneval = [m for m in models if m.geneval]
    if not with_geneval:
        return []
    parts = [
        "<h2>GenEval</h2><p>Per-tag accuracy and the overall score as GenEval's <code>summary_scores.py</code> "
        "computes it: the unweighted mean of the per-tag accuracies. <b>Plan</b>: the chain's planned objects "
        "(class, colour from the phrase, box) checked exactly against the prompt's scene spec. <b>Image</b>: the "
        "generated image (exact detector in the synthetic world; the judge at full scale).</p>"
    ]
    for scope, label in (
        ("all", "All prompts; prompts outside a model's vocabulary count as failures"),
        ("in_vocabulary", "Only the prompts within each model's vocabulary (the others excluded)"),
    ):
        summaries = {
            (m.name, kind): m.geneval[kind].get(scope)
            for m in with_geneval
            for kind in ("plan", "image")
            if kind in m.geneval
        }
        tags = list(dict.fromkeys(t for s in summaries.values() if s for t in s["tags"]))
        header = ["tag", *(f"{name} {kind}" for name, kind in summaries)]
        rows: list[list[Any]] = []
        for tag in tags:
            row: list[Any] = [tag]
            for s in summaries.values():
                score = s["tags"].get(tag) if s else None
                row.append(
                    None
                    if score is None
                    else f"{score['accuracy']:.4f} ({score['correct']}/{score['total']})"
                )
            rows.append(row)
        for key, title in (
            ("overall", "overall"),
            ("correct_images", "% correct images"),
            ("correct_prompts", "% correct prompts"),
        ):
            name = _Raw(f"<b>{title}</b>") if key == "overall" else title
            rows.append([name, *(s[key] if s else None for s in summaries.values())])
        parts.append(f"<h3>{html.escape(label)}</h3>" + _table(header, rows))
        if scope == "all" and tags:
            series = {
                f"{name} {kind}": [
                    s["tags"][t]["accuracy"] if s and t in s["tags"] else math.nan for t in tags
                ]
                for (name, kind), s in summaries.items()
            }
            parts.append(
                f"<img src='{bar_chart_png(tags, series, 'GenEval accuracy per tag (all prompts)')}'/>"
            )
    return parts


def _groups_section(models: Sequence[Any], fmt: str) -> list[str]:
    groups = list(dict.fromkeys(g for m in models for g in m.groups))
    if not groups:
        return []
    label = "category" if fmt == "t2i-compbench" else "group"
    parts = [
        f"<h2>Judge rewards per {label}</h2><p>Means over the sampled prompts' samples of the judge's rewards "
        "(each in [0, 1]): r_pi (prompt to image), r_sem and r_spa (the plan), r_ri (plan to image), and the "
        "combined total.</p>"
    ]
    keys = ["prompts", "sampled_prompts", *COMPONENTS, "total", "parse_failure_rate"]
    header = [label, *(f"{m.name} {k}" if len(models) > 1 else k for m in models for k in keys)]
    rows = [[g, *(m.groups.get(g, {}).get(k) for m in models for k in keys)] for g in groups]
    parts.append(_table(header, rows))
    series = {f"{m.name} r_pi": [m.groups.get(g, {}).get("r_pi", math.nan) for g in groups] for m in models}
    parts.append(f"<img src='{bar_chart_png(groups, series, f'judge r_pi per {label}', 'mean r_pi')}'/>")
    return parts


def _vocabulary_section(models: Sequence[Any]) -> list[str]:
    parts = ["<h2>Prompts not sampled</h2>"]
    for m in models:
        parts.append(
            f"<p>{html.escape(m.name)}: {len(m.out_of_vocabulary)} outside the model's vocabulary, "
            f"{len(m.unscorable)} the judge cannot score (no scene spec for the verifier judge).</p>"
        )
        if m.out_of_vocabulary:
            items = "".join(
                f"<li>{html.escape(o['prompt'])} <i>({html.escape(', '.join(o['missing']))})</i></li>"
                for o in m.out_of_vocabulary
            )
            parts.append(f"<details><summary>out of vocabulary</summary><ul>{items}</ul></details>")
        if m.unscorable:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in m.unscorable)
            parts.append(f"<details><summary>unscorable</summary><ul>{items}</ul></details>")
    return parts


def _samples_section(models: Sequence[Any], codecs: Sequence[ImageCodec], per_group: int) -> list[str]:
    first: list[dict[str, EvaluatedSample]] = [
        {s.prompt: s for s in reversed(m.samples) if s.sample == 0} for m in models
    ]
    chosen: list[str] = []
    counts: dict[str, int] = {}
    for m in models:
        for s in m.samples:
            if s.sample == 0 and s.prompt not in chosen and counts.get(s.tag, 0) < per_group:
                chosen.append(s.prompt)
                counts[s.tag] = counts.get(s.tag, 0) + 1
    if not chosen:
        return []
    parts = [
        f"<h2>Samples</h2><p>The first sample of up to {per_group} prompts per group; the planned boxes are drawn "
        "over each image, the chain below it.</p>"
    ]
    if len(models) > 1:
        parts.append("<p>Left to right: " + ", ".join(html.escape(m.name) for m in models) + ".</p>")
    for prompt in chosen:
        cells = []
        for by_prompt, codec in zip(first, codecs, strict=True):
            s = by_prompt.get(prompt)
            cells.append(_sample_figure(s, codec, with_prompt=False) if s else "<figure>not sampled</figure>")
        parts.append(f"<h4>{html.escape(prompt)}</h4><div class='row'>{''.join(cells)}</div>")
    return parts


def render_evaluation_html(
    report: Mapping[str, Any], models: Sequence[Any], codecs: Sequence[ImageCodec], samples_per_group: int = 4
) -> str:
    """``gotr1 evaluate``'s report.html.

    Args:
        report: the report.json mapping (its run settings are shown at the top).
        models: :class:`gotr1.evaluation.suites.ModelEvaluation` per model, shown side by side.
        codecs: each model's image codec (to draw its images).
        samples_per_group: prompts per group in the sample grid.
    """
    esc = html.escape
    settings = [
        ["prompts", f"{report['prompts']} ({report['format']}, {report['prompt_count']} prompts)"],
        ["prompts sha256", report["prompts_sha256"]],
        *[[f"checkpoint {m.name}", m.checkpoint] for m in models],
        ["judge", report["judge"]],
        ["samples per prompt", report["samples_per_prompt"]],
        ["seed", report["seed"]],
        ["seconds", report["seconds"]],
    ]
    parts = [
        f"<h1>gotr1 evaluation: {esc(', '.join(m.name for m in models))}</h1>",
        _table(["setting", "value"], settings),
    ]
    parts += _geneval_section(models)
    parts += _groups_section(models, str(report["format"]))
    headline = [
        "reward/total",
        *(f"reward/{k}" for k in COMPONENTS),
        "plan_accuracy",
        "image_accuracy",
        "parse_failure_rate",
        "samples",
    ]
    parts.append("<h2>Headline metrics (sampled prompts)</h2>")
    parts.append(
        _table(
            ["metric", *(m.name for m in models)],
            [[k, *(m.metrics.get(k) for m in models)] for k in headline],
        )
    )
    parts += _vocabulary_section(models)
    parts += _samples_section(models, codecs, samples_per_group)
    return f"<html><head><meta charset='utf-8'><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"

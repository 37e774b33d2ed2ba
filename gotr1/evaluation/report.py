"""Reports people want to look at: tables, reward curves, and samples with the planned boxes drawn on them."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw

from gotr1.evaluation.rollouts import EvaluatedSample
from gotr1.models.base import ImageCodec
from gotr1.reasoning.chain import GoTChain, parse
from gotr1.reasoning.geometry import box_to_pixels

__all__ = ["curves_png", "render_report", "sample_with_boxes"]

_PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def sample_with_boxes(image: Image.Image, chain_text: str) -> Image.Image:
    """The image with each planned box outlined and labelled with its phrase."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    chain = parse(chain_text)
    if isinstance(chain, GoTChain):
        for i, obj in enumerate(chain.objects):
            colour = _PALETTE[i % len(_PALETTE)]
            x1, y1, x2, y2 = box_to_pixels(obj.box, *out.size)
            draw.rectangle([x1, y1, x2, y2], outline=colour, width=2)
            draw.text((x1 + 2, y1 + 1), obj.phrase, fill=colour)
    return out


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def curves_png(series: Mapping[str, Sequence[tuple[int, float]]], title: str) -> str:
    """Line plots of metric series as an inline PNG data URL (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, points in series.items():
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_report(
    title: str,
    columns: Mapping[str, Mapping[str, float]],
    samples: Sequence[EvaluatedSample],
    codec: ImageCodec,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    max_samples: int = 24,
) -> str:
    """HTML: a metrics table with one column per model, optional curves, and a grid of samples."""
    esc = html.escape
    names = list(columns)
    keys = sorted({k for m in columns.values() for k in m})
    rows = "".join(
        f"<tr><td>{esc(k)}</td>"
        + "".join(f"<td>{columns[n].get(k, float('nan')):.4f}</td>" for n in names)
        + "</tr>"
        for k in keys
    )
    parts = [
        f"<h1>{esc(title)}</h1>",
        "<table border='1' cellpadding='3'><tr><th>metric</th>"
        + "".join(f"<th>{esc(n)}</th>" for n in names)
        + "</tr>",
        rows,
        "</table>",
    ]
    if curves:
        parts.append(f"<img src='{curves_png(curves, 'training curves')}'/>")
    parts.append(
        "<h2>Samples (planned boxes drawn over the image)</h2><div style='display:flex;flex-wrap:wrap'>"
    )
    for s in samples[:max_samples]:
        picture = sample_with_boxes(codec.to_pil(s.image), s.chain_text)
        verdict = s.verdict
        caption = (
            f"{esc(s.prompt)}<br/>total={s.total if s.total is None else round(s.total, 3)} "
            f"sem={verdict.r_sem} spa={verdict.r_spa} ri={None if verdict.r_ri is None else round(verdict.r_ri, 2)} "
            f"pi={None if verdict.r_pi is None else round(verdict.r_pi, 2)}"
        )
        parts.append(
            f"<figure style='width:270px;margin:6px'><img width='256' src='{_png(picture)}'/>"
            f"<figcaption style='font-size:11px'>{caption}</figcaption></figure>"
        )
    parts.append("</div>")
    return "<html><body style='font-family:sans-serif'>" + "".join(parts) + "</body></html>"

"""Image codecs serialised beside a checkpoint (``codec.json``): the grid codec here, Janus's VQ at full scale."""

from __future__ import annotations

from typing import Any

from gotr1.models.base import ImageCodec
from gotr1.synthetic.codec import GridCodec

__all__ = ["codec_from_dict", "codec_to_dict"]


def codec_to_dict(codec: ImageCodec) -> dict[str, Any]:
    if isinstance(codec, GridCodec):
        return {
            "type": "grid",
            "grid_size": codec.grid_size,
            "classes": list(codec.classes),
            "colors": list(codec.colors),
        }
    to_dict = getattr(codec, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"cannot serialise image codec {type(codec).__name__}: it has no to_dict()")
    out: dict[str, Any] = to_dict()
    return out


def codec_from_dict(data: dict[str, Any], model: Any = None) -> ImageCodec:
    """Rebuild a codec; ``model`` is the loaded Janus model (the VQ codec decodes with its VQ tokenizer)."""
    kind = data.get("type")
    if kind == "grid":
        return GridCodec.build(int(data["grid_size"]), data["classes"], data["colors"])
    if kind == "janus_vq":
        from gotr1.models.janus_pro import JanusVQCodec

        return JanusVQCodec.from_dict(data, model)
    raise ValueError(f"unknown image codec type {kind!r} in codec.json (expected 'grid' or 'janus_vq')")

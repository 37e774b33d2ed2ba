"""Fingerprint the external data sources, so that new data behind the same URIs never hits the cache."""

from __future__ import annotations

import os
from typing import Annotated, Any

import fsspec
from zenml import log_metadata, step


def _storage_options(uri: str) -> dict[str, Any]:
    # The same convention as gotr1.data.curation.read_text: an S3-compatible endpoint from AWS_ENDPOINT_URL.
    if uri.startswith("s3://") and os.environ.get("AWS_ENDPOINT_URL"):
        return {"client_kwargs": {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}}
    return {}


@step(enable_cache=False)  # it must look every time: that is its whole job
def fingerprint_sources(
    got_records: list[str] | None = None,
    eval_prompt_files: list[str] | None = None,
    rl_prompt_files: list[str] | None = None,
) -> Annotated[dict[str, str], "source_fingerprint"]:
    """What each source URI holds now, as the file system reports it (S3: ETag and size; local: size and
    modification time). :func:`steps.load_sources.load_sources` takes this as an input, so it is reused from the
    cache exactly when the parameters AND the files behind them are unchanged."""
    fingerprint: dict[str, str] = {}
    for uri in [*(got_records or []), *(eval_prompt_files or []), *(rl_prompt_files or [])]:
        fs, path = fsspec.core.url_to_fs(uri, **_storage_options(uri))
        try:
            info = fs.info(path)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"data source not found: {uri}") from err
        version = info.get("ETag") or info.get("mtime") or info.get("LastModified") or info.get("created")
        fingerprint[uri] = f"size={info.get('size')} version={version}"
    log_metadata({"sources": len(fingerprint)})
    return fingerprint

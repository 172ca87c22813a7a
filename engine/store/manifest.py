"""The run manifest: one JSON file, always replaced atomically, never partially written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine.errors import RunError
from engine.store.schema import MANIFEST_FILE as MANIFEST
from engine.store.schema import RUN_FORMAT as FORMAT

SCHEMA_VERSION = 2
"""1: the first format. 2: layers carry ``inputs``/``module``/``node`` (the model graph), the
model entry says how to build it again (``builder`` or ``program``), and the manifest names the
``optimizer``."""
REQUIRED_KEYS = ("format", "schema", "name", "status", "model", "dataset", "streams", "progress")


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write ``text`` to ``path`` so that a reader (or a kill -9) sees the old or the new file,
    never a mix: write a sibling, rename it over. ``durable`` also fsyncs file and folder, so
    the new file survives a power cut too (slower; used at checkpoints)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def save_manifest(folder: Path, manifest: dict[str, Any], durable: bool = True) -> None:
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1), durable)


def load_manifest(folder: Path) -> dict[str, Any]:
    """Read and validate a manifest; every failure names the file and says what to do."""
    path = folder / MANIFEST
    if not folder.exists():
        raise RunError(f"No run at {folder}: the folder does not exist.")
    if not path.is_file():
        raise RunError(
            f"{path} is missing, so {folder} is not an nnreel run (or it was never started). "
            "Train one with `python -m engine train PRESET --run NAME`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} is corrupt (not valid JSON: {exc}). Re-train the run.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunError(f"{path} is not an nnreel run manifest (no 'format': '{FORMAT}').")
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise RunError(f"{path} is incomplete: it lacks {', '.join(missing)}. Re-train the run.")
    if manifest["schema"] > SCHEMA_VERSION:
        raise RunError(
            f"{path} has schema {manifest['schema']}, newer than this nnreel understands "
            f"({SCHEMA_VERSION}). Upgrade nnreel to read it."
        )
    return manifest

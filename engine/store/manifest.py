"""The run manifest: one JSON file, always replaced atomically, never partially written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import RunError
from engine.store.files import inside, write_atomic
from engine.store.schema import (
    CHECKPOINT_FILE,
    CHECKPOINT_MANIFEST,
    MANIFEST_FILE,
    validate_manifest,
)

MANIFEST = MANIFEST_FILE


def manifest_text(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON with one line per field and per table entry, to read and to diff.

    Each line comes from json's C encoder: ``indent=`` would use the pure-Python one, several
    times slower, and a fast run rewrites its manifest at every commit."""
    lines = [f" {json.dumps(key)}: {_field_text(value)}" for key, value in manifest.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def _field_text(value: Any) -> str:
    """A field on one line, or a table (streams, layers) with one line per entry."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        rows = [f"  {json.dumps(name)}: {json.dumps(entry)}" for name, entry in value.items()]
        return "{\n" + ",\n".join(rows) + "\n }"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(f"  {json.dumps(entry)}" for entry in value) + "\n ]"
    return json.dumps(value)


def save_manifest(folder: Path, text: bytes, durable: bool = True) -> None:
    write_atomic(inside(folder, MANIFEST), lambda handle: handle.write(text), durable)


def load_manifest(folder: Path) -> dict[str, Any]:
    """Read and validate a manifest; every failure names the file and says what to do."""
    if not folder.exists():
        raise RunError(f"No run at {folder}: the folder does not exist.")
    path = inside(folder, MANIFEST)
    if not path.is_file():
        raise RunError(
            f"{folder / MANIFEST} is missing, so {folder} is not an nnreel run (or it was never "
            "started). Train one with `python -m engine train PRESET --run NAME`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        kept = _kept_in_checkpoint(folder)
        if kept is None:
            raise RunError(
                f"{path} is corrupt (not valid JSON: {exc}). Re-train the run."
            ) from None
        manifest, path = kept
    except RecursionError:
        raise RunError(f"{path} is corrupt (nested too deeply). Re-train the run.") from None
    return validate_manifest(manifest, path)


def manifest_tensor(text: bytes):
    """The manifest's JSON as a uint8 tensor, for a checkpoint to keep (it loads with
    ``weights_only``)."""
    import torch

    return torch.frombuffer(bytearray(text), dtype=torch.uint8)


def _kept_in_checkpoint(folder: Path) -> tuple[dict[str, Any], Path] | None:
    """The manifest the run's checkpoint keeps, and the file it came from; None without one.

    A power cut can leave an empty manifest on a filesystem that does not keep files replaced
    by a rename whole (XFS): the run then reads as at its checkpoint, and says so until its
    status changes."""
    path = inside(folder, CHECKPOINT_FILE)
    if not path.is_file():
        return None
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        manifest = json.loads(state[CHECKPOINT_MANIFEST].numpy().tobytes())
        step = manifest["checkpoint"]["step"]
    except Exception:  # nothing to recover there, whatever the reason: the first error stands
        return None
    manifest["message"] = (
        f"{MANIFEST} was lost when the machine stopped; read from {CHECKPOINT_FILE} (step {step})."
    )
    return manifest, path

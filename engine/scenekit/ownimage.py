"""``image=path.png``: show any image file going through a recorded model.

The run's stored model (rebuilt from the run alone: its builder or its checked ``torch.export``
program, weights loaded with ``weights_only=True``) computes that image's activations now, and
``ImageRun`` presents them as the run's probe — one image, one snapshot at the run's last step —
so every scene that films one probe image films the new one unchanged. Its true class is not
known: ``probe/labels`` holds ``UNLABELLED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.errors import NnreelError
from engine.scenekit.options import options_text
from engine.store import Run, schema

UNLABELLED = -1
"""The probe label of an image file: nobody said what it shows."""


def shown(path: Path) -> str:
    """``image=FILE`` as a user types it (quoted when the path has spaces), for messages."""
    return options_text({"image": path})


def read_image(path: Path, shape: Sequence[int]) -> np.ndarray:
    """Any image file as the run's input pixels: uint8 ``[C, H, W]`` for ``shape`` (C, H, W),
    grey or RGB as the run's inputs are, cropped to their aspect ratio and resized."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    channels, height, width = shape
    if channels not in (1, 3):
        raise NnreelError(
            f"The run's model takes {channels}-channel inputs; {shown(path)} can only be shown "
            "to a model of grey (1) or colour (3) images."
        )
    try:
        with Image.open(path) as opened:
            picture = ImageOps.exif_transpose(opened).convert("L" if channels == 1 else "RGB")
    except FileNotFoundError:
        raise NnreelError(f"{shown(path)}: there is no such file.") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = "not an image Pillow reads" if isinstance(exc, UnidentifiedImageError) else exc
        raise NnreelError(
            f"{shown(path)} cannot be read: {reason}. Give a PNG or JPEG file."
        ) from None
    fitted = ImageOps.fit(picture, (width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(fitted, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1).copy()


def image_outputs(run: Run, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The stored model's outputs on one image (uint8 ``[C, H, W]``): the probabilities
    (``probe/probs``) and every recorded layer's activations (``acts/LAYER``), batch of one."""
    import torch

    from engine.recording import load_model

    model = load_model(run)
    layers = [info.name for info in run.layers if run.has(schema.acts(info.name))]
    x = torch.tensor(pixels[None], dtype=torch.float32) / 255
    with torch.no_grad():
        outputs = model.forward_to(x, [schema.LOGITS, *layers])
        probs = model.probabilities(outputs[schema.LOGITS])
    found = {schema.acts(name): outputs[name].float().numpy() for name in layers}
    return {schema.PROBE_PROBS: probs.float().numpy(), **found}


class ImageRun(Run):
    """A run whose probe is one image file: its pixels, its activations through the run's
    final model (one snapshot at the last step) and an unknown label. Every other stream, and
    the manifest, are the run's own."""

    def __init__(self, run: Run, path: Path):
        if not run.has(schema.PROBE_IMAGES):
            raise NnreelError(
                f"Run {run.name!r} recorded no probe images (its model does not take images), "
                f"so {shown(path)} cannot be shown through it."
            )
        self.__dict__.update(run.__dict__)
        self.image_path = path
        pixels = read_image(path, run.read(schema.PROBE_IMAGES, 0).shape[1:])
        step = int(run.manifest["progress"].get("step", 0))
        self.streams, self._arrays = dict(run.streams), dict(run._arrays)
        self._replace(schema.PROBE_IMAGES, pixels[None], step)
        self._replace(schema.PROBE_LABELS, np.array([UNLABELLED]), step)
        for name, values in image_outputs(run, pixels).items():
            self._replace(name, values, step)

    def _replace(self, name: str, batch: np.ndarray, step: int) -> None:
        """Stream ``name`` becomes one snapshot, ``batch``, taken at ``step``."""
        old = self.streams[name]
        self.streams[name] = replace(old, shape=batch.shape, capacity=1, count=1)
        self._arrays[name] = (batch[None].astype(old.dtype), np.array([step], dtype=np.int64))


def image_file(run: Run) -> Path | None:
    """The image file a run shows as its probe (``image=``), or None for the recorded probe."""
    return run.image_path if isinstance(run, ImageRun) else None

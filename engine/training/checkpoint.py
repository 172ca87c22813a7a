"""Checkpoints that let ``--resume`` continue exactly where training stopped.

They hold only tensors, numbers and dicts, so they load with ``weights_only=True``; the run
writer saves them (``RunWriter.save_checkpoint``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.errors import RunError

KEYS = ("model", "optimizer", "scheduler", "step", "epoch", "cpu_rng")


def capture(model, optimizer, scheduler, step: int, epoch: int) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "epoch": epoch,
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def load(path: Path) -> dict[str, Any]:
    """A file of tensors (a checkpoint, or weights), loaded without unpickling anything."""
    if not path.exists():
        raise RunError(f"{path} is missing, so the run cannot resume. Re-train it.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RunError(f"{path} cannot be loaded ({exc}); re-train the run.") from None
    if not isinstance(state, dict):
        raise RunError(f"{path} holds a {type(state).__name__}, not a dict of tensors.")
    return state


def restore(state: dict[str, Any], path: Path, model, optimizer, scheduler) -> int:
    """Put the training state saved in ``path`` back; returns its step. A checkpoint of
    another model or another optimiser is refused with the file named."""
    missing = [key for key in KEYS if key not in state]
    if missing:
        raise RunError(f"{path} is not a training checkpoint (it lacks {', '.join(missing)}).")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["cpu_rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step = int(state["step"])
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise RunError(
            f"{path} does not belong to this run: it is a checkpoint of another model or "
            f"optimiser ({str(exc).splitlines()[0][:200]}). Re-train the run, or put its own "
            "checkpoint back."
        ) from None
    if step < 0:
        raise RunError(f"{path} says it was saved at step {step}; it is damaged. Re-train.")
    return step


def load_weights(path: Path, model) -> None:
    """Start ``model`` from the state dict in ``path`` (``--init-weights``: a pruned net)."""
    try:
        model.load_state_dict(load(path))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise RunError(
            f"{path} does not hold weights of this model ({str(exc).splitlines()[0][:200]})."
        ) from None

"""What a recorded run needs to be used again: its model (with its trained weights) and its
dataset, rebuilt from the manifest. This sits above the store, the models and the data, so the
store itself depends on none of them.

A run's model is built again from its registry builder (nnreel's networks, torchvision's by
name) or, for any other module, from its stored ``torch.export`` program; either way weights
load with ``weights_only=True`` and nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import RunError
from engine.store import CHECKPOINT_FILE, MODEL_FILE, Run
from engine.store.files import inside
from engine.store.schema import ModelInfo


def _run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else Run(run)


def load_run_data(run: Run | str | Path, **overrides: Any):
    """The run's dataset, loaded again exactly as it was trained on (``overrides`` such as
    ``root=`` adapt it to this machine)."""
    from engine.data import load_data as load

    run = _run(run)
    params = run.dataset.get("params")
    if not params:
        raise RunError(
            f"Run {run.name!r} does not record how to load its dataset (it came from the "
            "recording API with data nnreel cannot load by name)."
        )
    return load(**{**params, **overrides})


def load_weights(run: Run | str | Path, which: str = "final") -> dict[str, torch.Tensor]:
    """The final weights when training finished, else the last checkpoint's."""
    run = _run(run)
    path, key = weights_file(run, which)
    if not path.exists():
        raise RunError(
            f"Run {run.name!r} has no saved weights ({MODEL_FILE} or {CHECKPOINT_FILE}) in "
            f"{run.folder}. Let training reach its first checkpoint (a recorded loop saves "
            "its weights at an epoch's end at most once a minute, and when it ends), or "
            "re-train."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RunError(f"{path} cannot be loaded ({exc}). It is corrupt; re-train.") from None
    if key is not None:
        state = state.get(key) if isinstance(state, dict) else None
    if not isinstance(state, dict):
        raise RunError(f"{path} holds no weights of a model. It is corrupt; re-train.")
    return state


def weights_file(run: Run, which: str = "final") -> tuple[Path, str | None]:
    """The file holding the run's weights, and the key they are under (None: the whole file)."""
    path = inside(run.folder, MODEL_FILE)
    if which == "final" and path.exists():
        return path, None
    return inside(run.folder, CHECKPOINT_FILE), "model"


def load_model(run: Run | str | Path, which: str = "final") -> nn.Module:
    """The trained network in eval mode, taking inputs in [0, 1] pixel space (or raw points).

    nnreel's own networks come back as ``LayeredNet``; anything else as a ``TappedNet`` with
    the same interface (layers, ``forward_to``, probabilities, prunable modules).
    """
    from engine.models import LayeredNet, rebuild_model
    from engine.models.tapped import TappedNet

    run = _run(run)
    info = _model_info(run)
    state = load_weights(run, which)
    if info.builder is not None:
        try:
            model = rebuild_model(info.builder)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RunError(
                f"The model of run {run.name!r} cannot be built from its manifest ({exc}); "
                "the manifest was damaged or edited. Re-train the run."
            ) from None
        try:
            model.load_state_dict(state)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            path = weights_file(run, which)[0]
            raise RunError(f"{path} does not match the run's model ({exc}).") from None
        if isinstance(model, LayeredNet):
            return model.eval()
        return _tapped_module(model, info).eval()
    if info.program:
        from engine.recording.program import load_program

        program = load_program(run.folder, state)
        return TappedNet.from_program(
            program,
            run.layers,
            arch=info.arch,
            input_shape=info.input_shape,
            num_classes=info.num_classes,
            normalize=info.normalize,
        ).eval()
    raise RunError(
        f"Run {run.name!r} does not say how to build its model again (no builder, no stored "
        "program). Record it with engine.record, or build the model from nnreel's registry."
    )


def _tapped_module(model: nn.Module, info: ModelInfo):
    from engine.models.graph import trace_model
    from engine.models.tapped import TappedNet

    graph = trace_model(model, torch.zeros(2, *info.input_shape))
    return TappedNet.from_graph(
        graph, arch=info.arch, num_classes=info.num_classes, normalize=info.normalize
    )


def _model_info(run: Run) -> ModelInfo:
    """The manifest's model, reading a schema-1 run's ``arch``/``config`` as a builder."""
    info = run.model_info
    if info.builder is None and not info.program and "arch" in run.model:
        kwargs = dict(info.config)
        shape = info.input_shape
        if len(shape) == 1:
            kwargs.update(in_features=shape[0], num_classes=info.num_classes)
        else:
            kwargs.update(in_channels=shape[0], image_size=shape[-1], num_classes=info.num_classes)
        info.builder = {"name": info.arch, "kwargs": kwargs}
    return info

"""The fitted function of a model on 2-D points: every recorded layer over a mesh of the plane,
and the predictions on the held-out points. A plain MLP's planes are computed when read, from
its parameters recorded at each snapshot (``engine.store.computed``); any other model's are
evaluated here and stored."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from engine.models.graph import LOGITS
from engine.recording.scalars import probabilities
from engine.store import RunWriter, computed, schema

COMPUTED_TOLERANCE = 1e-4
"""How far (relative to the values' size) the chain computed in numpy may be from the model's
own outputs on the probe for the planes to be computed: fp32 rounding is a thousand times
smaller; anything the chain does not capture is far larger."""


def plane_mesh(extent: Sequence[float], resolution: int) -> torch.Tensor:
    """Points of a resolution×resolution grid, row 0 at the top (largest y), as [H*W, 2]:
    the store's own mesh (``computed.plane_mesh``), so stored and computed planes agree."""
    return torch.from_numpy(computed.plane_mesh(extent, resolution))


def plane_function(
    chain: list[tuple[str, str, float]],
    modules: dict[str, nn.Module],
    kinds: dict[str, str],
    probe: torch.Tensor,
    tapped: dict[str, torch.Tensor],
    extent: Sequence[float],
    resolution: int,
) -> dict | None:
    """The manifest's ``schema.PLANE_FUNCTION`` for a plain ``chain``
    (``ModelGraph.dense_chain``) when its outputs on ``probe``, computed in numpy from its
    parameters, are what the model output there (``tapped``: the logits and every layer
    before them); None when its planes must be stored."""
    entry = {
        "extent": [float(v) for v in extent],
        "mesh": int(resolution),
        "layers": [{"layer": n, "activation": act, "alpha": alpha} for n, act, alpha in chain],
    }
    layers = tuple(
        computed.ChainLayer(
            name, kinds[name], act, alpha, modules[name].weight.shape[0],
            modules[name].bias is not None,
        )
        for name, act, alpha in chain
    )  # fmt: skip
    function = computed.PlaneFunction(tuple(entry["extent"]), resolution, layers)
    names = [name for name, _, _ in chain]
    found = function.outputs(_params(modules, names), probe.cpu().numpy())
    for name in names:
        expected = tapped[LOGITS if name == names[-1] else name].float().cpu().numpy()
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
        if not np.allclose(found[name], expected, rtol=0, atol=COMPUTED_TOLERANCE * scale):
            return None
    return entry


def _params(modules: dict[str, nn.Module], names: Sequence[str]) -> computed.Params:
    return [(_fp32(modules[n].weight), _maybe(modules[n].bias)) for n in names]


def _fp32(values: torch.Tensor) -> np.ndarray:
    return values.detach().float().cpu().numpy()


def _maybe(values: torch.Tensor | None) -> np.ndarray | None:
    return None if values is None else _fp32(values)


def write_params(
    writer: RunWriter, step: int, modules: dict[str, nn.Module], function: dict
) -> None:
    """One snapshot of a computed plane: every layer's fp32 weight and bias."""
    for entry in function["layers"]:
        module = modules[entry["layer"]]
        writer.write(schema.params(entry["layer"]), step, _fp32(module.weight))
        if module.bias is not None:
            writer.write(schema.params_bias(entry["layer"]), step, _fp32(module.bias))


def fp16(values: torch.Tensor) -> np.ndarray:
    """A tensor as the fp16 array the heavy streams store."""
    return values.detach().to(torch.float16).cpu().numpy()


def write_plane(
    writer: RunWriter, step: int, outputs: dict[str, torch.Tensor], resolution: int
) -> None:
    """One snapshot of the plane streams from a tap's ``outputs`` (the logits and the recorded
    layers, ``.pre`` keys before their activation) on the mesh's ``resolution``² points
    followed by the held-out points."""
    r = resolution
    n = r * r

    def units_over_mesh(values: torch.Tensor) -> np.ndarray:
        """(mesh points, units) → (units, r, r), cast to fp16 before the transposing copy."""
        return fp16(values[:n]).T.reshape(-1, r, r)

    outputs = dict(outputs)
    probs = probabilities(outputs.pop(LOGITS).float())
    classes = probs[:n].argmax(1).to(torch.uint8).reshape(r, r)  # from fp32: no fp16 ties
    writer.write(schema.PLANE_PROB, step, units_over_mesh(probs))
    writer.write(schema.PLANE_CLASS, step, classes.cpu().numpy())
    for key, out in outputs.items():
        name = schema.plane_pre(key[:-4]) if key.endswith(".pre") else schema.plane(key)
        writer.write(name, step, units_over_mesh(out))
    writer.write(schema.PLANE_VAL_PROB, step, fp16(probs[n:]))

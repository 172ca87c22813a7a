"""The layer table (output shape, parameters, multiply-accumulates per layer) of any model."""

from __future__ import annotations

import torch
from torch import nn

from engine.models.graph import trace_model, without_normalize
from engine.store import LayerInfo


def layer_table(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> list[LayerInfo]:
    """One row per layer of ``model``'s graph (input normalisation left out), for one input.

    MACs are counted as torchinfo counts them; ``input_shape`` defaults to the model's own
    (nnreel's networks know theirs).
    """
    shape = tuple(input_shape or model.input_shape)
    device = next(model.parameters()).device
    graph = trace_model(model, torch.zeros((1, *shape), device=device))
    return without_normalize(graph.layers)

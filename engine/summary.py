"""The layer table (output shape, parameters, multiply-accumulates per layer), from torchinfo."""

from __future__ import annotations

from torchinfo import summary

from engine.models.net import LayeredNet
from engine.store import LayerInfo


def layer_table(model: LayeredNet) -> list[LayerInfo]:
    """One row per top-level layer of ``model`` (normalisation excluded), for one input.

    torchinfo reports MACs on leaf modules only, so each row sums the MACs of its leaves.
    """
    device = next(model.parameters()).device
    stats = summary(
        model,
        input_size=(1, *model.input_shape),
        verbose=0,
        depth=8,
        mode="eval",
        device=device,
    )
    rows: dict[str, LayerInfo] = {}
    for entry in stats.summary_list:
        if entry.depth == 1:
            rows[entry.var_name] = LayerInfo(
                name=entry.var_name,
                kind=getattr(entry.module, "kind", entry.class_name.lower()),
                output_shape=list(entry.output_size[1:]),
                params=int(entry.num_params),
                macs=0,
            )
        if entry.depth >= 1 and entry.is_leaf_layer:
            rows[_top_level_name(entry)].macs += int(entry.macs)
    return [row for row in rows.values() if row.kind != "normalize"]


def _top_level_name(entry) -> str:
    while entry.depth > 1:
        entry = entry.parent_info
    return entry.var_name

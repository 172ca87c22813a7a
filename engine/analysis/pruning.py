"""Fine-grained magnitude pruning (seed 004): zero the smallest weights, globally or per
layer, optionally fine-tune with the zeros held, and record the result as a new run that
remembers its parent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from engine.errors import DataError, NnreelError, RunError, UnknownNameError
from engine.models import Net, TappedNet
from engine.recording.recorder import default_loss
from engine.recording.restore import load_model, load_run_data
from engine.recording.scalars import predictions, probabilities
from engine.store import INIT_FILE, MODEL_FILE, Run, RunWriter, StreamInfo, resolve_run, schema
from engine.store.files import inside, save_tensors
from engine.store.run import remove_run
from engine.training import TrainConfig, TrainResult, train

SCOPES = ("global", "layer")
BYTES_PER_WEIGHT = 4  # fp32


@dataclass
class PruneReport:
    """What pruning did: the sparsity reached per layer and the size before and after."""

    sparsity: float
    scope: str
    per_layer: dict[str, float]
    params: int
    nonzero_before: int
    nonzero_after: int

    @property
    def mib_before(self) -> float:
        return self.nonzero_before * BYTES_PER_WEIGHT / 2**20

    @property
    def mib_after(self) -> float:
        return self.nonzero_after * BYTES_PER_WEIGHT / 2**20

    def to_json(self) -> dict:
        return {**asdict(self), "mib_before": self.mib_before, "mib_after": self.mib_after}


def prunable(model: Net) -> dict[str, nn.Module]:
    """The conv and linear modules whose weights pruning thins, by layer name."""
    return model.prunable()


def module_of(model: Net) -> nn.Module:
    """The module whose state dict a run stores (a ``TappedNet``'s wrapped network)."""
    return model.net if isinstance(model, TappedNet) else model


def count_nonzero(model: nn.Module) -> int:
    return sum(int((p != 0).sum()) for p in model.parameters())


def prune_model(model: Net, sparsity: float, scope: str = "global") -> PruneReport:
    """Zero the ``sparsity`` fraction of smallest-magnitude conv/linear weights, in place.

    ``global`` ranks all those weights together (layers end up with different sparsities);
    ``layer`` prunes each layer to the same fraction. The masks are made permanent, so the
    model stays a plain network with zeros in it.
    """
    if scope not in SCOPES:
        raise UnknownNameError("pruning scope", scope, SCOPES)
    if not 0 <= sparsity < 1:
        raise NnreelError(f"Sparsity must be in [0, 1); got {sparsity}.")
    before = count_nonzero(model)
    targets = [(module, "weight") for module in prunable(model).values()]
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    else:
        for module, attr in targets:
            prune.l1_unstructured(module, attr, amount=sparsity)
    for module, attr in targets:
        prune.remove(module, attr)
    per_layer = {
        name: float((module.weight == 0).float().mean()) for name, module in prunable(model).items()
    }
    total = sum(p.numel() for p in model.parameters())
    return PruneReport(sparsity, scope, per_layer, total, before, count_nonzero(model))


def prune_run(
    parent: str | Path,
    sparsity: float,
    scope: str = "global",
    finetune_epochs: int = 0,
    name: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> tuple[TrainResult, PruneReport]:
    """Prune ``parent``'s final weights into a new run beside it (``<parent>-pruned<pct>``).

    The new run is recorded like any other — the same probe, layers and streams — starting
    from the pruned weights; with ``finetune_epochs`` it trains on with the zeros held.
    """
    source = Run(parent)
    if source.status != "finished":
        raise NnreelError(
            f"Run {source.name!r} has not finished training ({source.status}); prune a "
            "finished run (resume it first with `python -m engine train --resume`)."
        )
    model = load_model(source)
    report = prune_model(model, sparsity, scope)
    folder = (
        resolve_run(name)
        if name
        else source.folder.with_name(f"{source.name}-pruned{round(sparsity * 100)}")
    )
    if (folder / "manifest.json").exists():
        if not overwrite:
            raise RunError(f"A run already exists at {folder}; pass --overwrite or --name.")
        remove_run(folder)
    parent_entry = {"run": str(source.folder.resolve()), "pruning": report.to_json()}
    if not {"model", "dataset"} <= set(source.hparams):
        if finetune_epochs:
            raise NnreelError(
                f"Run {source.name!r} was recorded from your own training loop, so nnreel "
                "cannot fine-tune its pruned copy: prune without fine-tuning, or fine-tune "
                "the pruned weights in your loop."
            )
        return record_pruned(source, model, folder, parent_entry), report
    folder.mkdir(parents=True, exist_ok=True)
    # Kept in the new run: it is where the run started, and what a resume rebuilds from.
    save_tensors(folder, INIT_FILE, model.state_dict())
    config = TrainConfig.from_json(source.hparams)
    config.init_weights, config.keep_zeros = str(folder / INIT_FILE), True
    config.epochs = finetune_epochs
    config.parent = parent_entry
    return train(config, folder, quiet=quiet), report


@torch.no_grad()
def record_pruned(source: Run, model: Net, folder: Path, parent: dict) -> TrainResult:
    """A pruned copy of a run recorded from a user's own loop: the parent's probe through the
    pruned network (step 0), its validation when the dataset can be loaded again, and the
    pruned weights beside the parent's stored model."""
    if not source.has(schema.PROBE_IMAGES):
        raise NnreelError(f"Run {source.name!r} recorded no probe images; it cannot be pruned.")
    images = source.read(schema.PROBE_IMAGES, 0)
    layers = [i.name for i in source.layers if schema.acts(i.name) in source.streams]
    model.eval()
    outputs = model.forward_to(torch.from_numpy(images).float() / 255, ["logits", *layers])
    arrays = {
        schema.PROBE_IMAGES: images,
        schema.PROBE_LABELS: source.read(schema.PROBE_LABELS, 0),
        schema.PROBE_PROBS: probabilities(outputs["logits"]).numpy(),
        **{schema.acts(n): outputs[n].half().numpy() for n in layers},
    }
    validation = _validation(source, model)
    if validation is not None:
        arrays[schema.VAL_LOSS], arrays[schema.VAL_ACC] = (np.float32(v) for v in validation)
    streams = [
        StreamInfo(name, str(value.dtype), tuple(np.shape(value)), 1, cadence="once")
        for name, value in arrays.items()
    ]
    keep = ("model", "dataset", "optimizer", "hparams", "layers")
    header = {key: source.manifest.get(key) for key in keep}
    header.update(parent=parent, progress={"step": 0, "epoch": 0, "total_steps": 0})
    with RunWriter.create(folder, header=header, streams=streams, overwrite=True) as writer:
        for name, value in arrays.items():
            writer.write(name, 0, value)
        if source.model.get("program"):
            for file in (schema.PROGRAM_FILE, schema.PROGRAM_CONSTANTS_FILE):
                writer.save_bytes(file, inside(source.folder, file).read_bytes())
        writer.save_tensors(MODEL_FILE, module_of(model).state_dict())
        writer.set_status("finished")
    return TrainResult(folder, "finished", 0, None if validation is None else validation[1])


def _validation(source: Run, model: Net) -> tuple[float, float] | None:
    """Loss and accuracy on the run's validation split, when its dataset loads again."""
    try:
        data = load_run_data(source)
    except (RunError, DataError):
        return None
    logits = torch.cat([model(data.to_float(x)) for x in data.x_val.split(512)])
    loss = float(default_loss(logits, data.y_val))
    return loss, float((predictions(logits) == data.y_val).float().mean())

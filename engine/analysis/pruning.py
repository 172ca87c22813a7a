"""Fine-grained magnitude pruning (seed 004): zero the smallest weights, globally or per
layer, optionally fine-tune with the zeros held, and record the result as a new run that
remembers its parent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from torch import nn
from torch.nn.utils import prune

from engine.errors import NnreelError, RunError, UnknownNameError
from engine.models.net import LayeredNet
from engine.store import INIT_FILE, Run, resolve_run
from engine.store.files import save_tensors
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


def prunable(model: LayeredNet) -> dict[str, nn.Module]:
    """The conv and linear modules whose weights pruning thins, by layer name."""
    found = {}
    for name, layer in model.visible_layers():
        for module in (getattr(layer, "conv", None), getattr(layer, "linear", None), layer):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                found[name] = module
                break
    return found


def count_nonzero(model: nn.Module) -> int:
    return sum(int((p != 0).sum()) for p in model.parameters())


def prune_model(model: LayeredNet, sparsity: float, scope: str = "global") -> PruneReport:
    """Zero the ``sparsity`` fraction of smallest-magnitude conv/linear weights, in place.

    ``global`` ranks all those weights together (layers end up with different sparsities);
    ``layer`` prunes each layer to the same fraction. The masks are made permanent, so the
    model stays a plain ``LayeredNet`` with zeros in it.
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
    model = source.load_model()
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
    folder.mkdir(parents=True, exist_ok=True)
    # Kept in the new run: it is where the run started, and what a resume rebuilds from.
    save_tensors(folder, INIT_FILE, model.state_dict())
    config = TrainConfig.from_json(source.hparams)
    config.init_weights, config.keep_zeros = str(folder / INIT_FILE), True
    config.epochs = finetune_epochs
    config.parent = {"run": str(source.folder.resolve()), "pruning": report.to_json()}
    return train(config, folder, quiet=quiet), report

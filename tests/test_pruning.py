"""Pruning: the asked sparsity exactly, a new run that loads and remembers its parent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.analysis.pruning import prunable, prune_model, prune_run
from engine.errors import NnreelError
from engine.models import build_model
from engine.recording import load_model
from engine.store import Run, schema

REPO = Path(__file__).resolve().parents[1]


def weight_sparsity(model) -> float:
    weights = [m.weight for m in prunable(model).values()]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruning_reaches_the_asked_sparsity_exactly(scope):
    torch.manual_seed(0)
    model = build_model("vggcifar", width=0.125)
    sizes = [m.weight.numel() for m in prunable(model).values()]
    report = prune_model(model, 0.5, scope)
    if scope == "global":
        assert weight_sparsity(model) == round(0.5 * sum(sizes)) / sum(sizes)
    else:
        for name, module in prunable(model).items():
            n = module.weight.numel()
            assert report.per_layer[name] == pytest.approx(round(0.5 * n) / n, abs=1e-7)
    assert report.nonzero_after < report.nonzero_before
    assert report.mib_after == pytest.approx(report.nonzero_after * 4 / 2**20)
    assert not any(name.endswith("_orig") for name, _ in model.named_parameters())


def test_global_pruning_keeps_the_largest_weights():
    torch.manual_seed(0)
    model = build_model("mlp", hidden=[16, 16])
    before = torch.cat([m.weight.detach().abs().flatten() for m in prunable(model).values()])
    prune_model(model, 0.3)
    after = torch.cat([m.weight.detach().abs().flatten() for m in prunable(model).values()])
    kept = before[after != 0]
    assert kept.min() >= before[after == 0].max()


def test_pruned_run_loads_remembers_its_parent_and_records(small_cnn, tmp_path):
    result, _ = prune_run(small_cnn, 0.6, name=str(tmp_path / "pruned"), quiet=True)
    run = Run(result.folder)
    assert run.status == "finished"
    assert run.manifest["parent"]["run"] == str(small_cnn.resolve())
    assert run.manifest["parent"]["pruning"]["sparsity"] == 0.6
    assert weight_sparsity(load_model(run)) == pytest.approx(0.6, abs=1e-3)
    acts = run.read(schema.acts("conv1"), -1)
    assert acts.shape == Run(small_cnn).read(schema.acts("conv1"), -1).shape
    assert 0 <= run.read(schema.VAL_ACC, -1) <= 1


def test_fine_tuning_keeps_the_sparsity(small_cnn, tmp_path):
    result, _ = prune_run(
        small_cnn, 0.5, finetune_epochs=1, name=str(tmp_path / "tuned"), quiet=True
    )
    run = Run(result.folder)
    assert weight_sparsity(load_model(run)) >= 0.5
    assert len(run.read(schema.TRAIN_LOSS)) == run.manifest["progress"]["total_steps"] > 0
    np.testing.assert_array_equal(
        run.steps(schema.VAL_ACC)[[0, -1]], [0, run.steps(schema.TRAIN_LOSS)[-1]]
    )


def test_bad_sparsity_and_existing_run_are_refused(small_cnn, tmp_path):
    with pytest.raises(NnreelError, match=r"Sparsity must be in \[0, 1\)"):
        prune_run(small_cnn, 1.5, name=str(tmp_path / "x"), quiet=True)
    prune_run(small_cnn, 0.2, name=str(tmp_path / "twice"), quiet=True)
    with pytest.raises(NnreelError, match=r"already exists.*--overwrite"):
        prune_run(small_cnn, 0.2, name=str(tmp_path / "twice"), quiet=True)


def test_prune_command_reports_sizes_and_accuracies(small_cnn, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "engine", "prune", str(small_cnn), "--sparsity", "0.5", "--quiet",
         "--name", str(tmp_path / "cli")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "non-zero parameters" in out.stderr and "MiB" in out.stderr and "→" in out.stderr

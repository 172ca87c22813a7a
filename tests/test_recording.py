"""The recording API on models nnreel did not build: a user's CNN in a plain loop, torchvision's
ResNet-18, a killed user loop, the Lightning callback, and the README's own example.

Recorded activations are compared with the same model recomputed in the same process (exact
within fp16), never with stored numbers, so the tests hold on any CPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from usermodels import plain_loop, recorded_residual_cnn

from engine import record
from engine.actmax.record import record_actmax
from engine.actmax.render import RenderSettings
from engine.analysis.pruning import prunable, prune_run
from engine.data import load_data
from engine.errors import NnreelError, RunError
from engine.models.graph import trace_model
from engine.recording import RecordConfig, load_model
from engine.recording.planes import plane_mesh
from engine.recording.recorder import TrainingDiverged
from engine.recording.schedule import Due
from engine.store import CHECKPOINT_FILE, MODEL_FILE, Run, is_run, schema

REPO = Path(__file__).resolve().parents[1]
FP16 = {"rtol": 2e-3, "atol": 2e-3}


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", train_size=960, val_size=160)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory, digits):
    return recorded_residual_cnn(tmp_path_factory.mktemp("runs") / "residual", digits)


def test_a_user_cnn_records_what_it_computes_on_the_probe(user_run, digits):
    run, model = user_run
    assert run.status == "finished" and is_run(run.folder)
    model.eval()
    x = torch.from_numpy(run.read(schema.PROBE_IMAGES, 0)).float() / 255
    expected = model.by_hand(x)
    assert list(run.read(schema.PROBE_LABELS, 0)) == list(range(8))
    last = run.manifest["progress"]["step"]
    for name in ("stem", "conv_a", "conv_b", "add", "max_pool2d", "head"):
        assert run.steps(schema.acts(name))[-1] == last
        recorded = run.read(schema.acts(name), -1).astype(np.float32)
        np.testing.assert_allclose(recorded, expected[name].numpy(), **FP16)
    assert (run.read(schema.acts("conv_b"), -1) < 0).any()  # before the merge's ReLU
    probs = torch.softmax(expected["head"], 1).numpy()
    np.testing.assert_allclose(run.read(schema.PROBE_PROBS, -1), probs, rtol=1e-4, atol=1e-5)
    assert run.read(schema.VAL_ACC, -1) > 0.2  # twice chance after one short epoch


def test_the_manifest_describes_the_graph_the_optimiser_and_the_data(user_run):
    run, _ = user_run
    assert run.model["arch"] == "residual CNN" and run.model["program"]
    assert run.optimizer.name == "adam" and run.optimizer.lr == pytest.approx(2e-3)
    assert run.hparams["batch_size"] == 64 and run.hparams["lr"] == pytest.approx(2e-3)
    assert run.dataset["name"] == "digits" and run.classes == [str(d) for d in range(10)]
    kinds = {info.name: info.kind for info in run.layers}
    assert kinds == {
        "stem": "conv",
        "conv_a": "conv",
        "conv_b": "conv",
        "add": "add",
        "max_pool2d": "pool",
        "flatten": "flatten",
        "head": "logits",
    }
    assert run.layer("add").inputs == ["stem", "conv_b"]
    assert [(e.source, e.target) for e in run.graph.skips] == [("stem", "add")]
    assert run.layer("stem").params == 8 * 9 + 8 + 2 * 8  # conv and its BatchNorm
    assert run.layer("conv_a").macs == (8 * 8 * 9 + 8) * 28 * 28 + 2 * 8  # as torchinfo counts


def test_the_stored_model_works_without_the_users_code(user_run, tmp_path):
    """A fresh interpreter that never saw ResidualCNN loads the run's model, gives the same
    activations, and activation maximisation and pruning run from the run alone."""
    run, model = user_run
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, torch
        from engine.recording import load_model
        from engine.store import Run, schema
        run = Run({str(run.folder)!r})
        net = load_model(run)
        x = torch.from_numpy(run.read(schema.PROBE_IMAGES, 0)).float() / 255
        with torch.no_grad():
            out = net.forward_to(x, ["conv_b", "logits"])
        np.save(sys.argv[1], out["conv_b"].numpy())
        np.save(sys.argv[2], out["logits"].numpy())
        """
    )
    files = [tmp_path / "conv_b.npy", tmp_path / "logits.npy"]
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    model.eval()
    x = torch.from_numpy(run.read(schema.PROBE_IMAGES, 0)).float() / 255
    expected = model.by_hand(x)
    np.testing.assert_allclose(np.load(files[0]), expected["conv_b"].numpy(), atol=1e-5)
    np.testing.assert_allclose(np.load(files[1]), expected["head"].numpy(), atol=1e-5)

    settings = RenderSettings(steps=24, frames=4, check_every=8)
    classes = record_actmax(run, "head", [0, 1, 2], settings=settings, quiet=True)
    assert np.all(classes.best_values > classes.values[0])  # grown well above the noise

    result, report = prune_run(run.folder, 0.5, quiet=True)
    pruned = Run(result.folder)
    assert pruned.manifest["parent"]["run"] == str(run.folder.resolve())
    assert report.nonzero_after < 0.6 * report.nonzero_before
    weights = [m.weight for m in prunable(load_model(pruned)).values()]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.5, abs=1e-3)
    assert 0 <= result.val_acc <= 1 and pruned.has(schema.acts("add"))


def test_an_in_place_relu_does_not_overwrite_a_recorded_layer(tmp_path):
    """torchvision-style nn.ReLU(inplace=True) after a BatchNorm: the BatchNorm's output, picked
    by its module name, keeps its negative values."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3),
    )  # fmt: skip
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    config = RecordConfig(snapshots="every:1")
    rec = record(model, tmp_path / "inplace", probe=(x, y), layers=["1", "0"], config=config)
    rec.close()
    run = Run(tmp_path / "inplace")
    model.eval()
    with torch.no_grad():
        bn = model[1](model[0](x))
    recorded = run.read(schema.acts("1"), -1).astype(np.float32)
    assert (recorded < 0).any()
    np.testing.assert_allclose(recorded, bn.numpy(), **FP16)
    assert run.layer("0").kind == "conv" and run.layer("1").kind == "norm"


def test_resnet18_records_with_its_skip_connections(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(16, 3, 32, 32), torch.arange(16) % 10
    config = RecordConfig(snapshots="every:1", weights="every:2")
    probe = (x[:4], y[:4])
    rec = record(model, tmp_path / "resnet", probe=probe, optimizer=opt, config=config)
    for batch in range(3):
        logits = model(x[batch * 4 :][:8])
        loss = F.cross_entropy(logits, y[batch * 4 :][:8])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss=loss, logits=logits, targets=y[batch * 4 :][:8])
    rec.close()
    run = Run(tmp_path / "resnet")
    graph = run.graph
    merges = [n.name for n in graph.nodes if n.kind == "add"]
    assert len(merges) == 8  # two basic blocks in each of the four stages
    skips = {(e.source, e.target) for e in graph.skips}
    assert ("maxpool", "layer1.0.add") in skips  # an identity shortcut
    assert {
        ("layer1.1.add", "layer2.0.downsample"),
        ("layer2.0.downsample", "layer2.0.add"),
    } < skips
    assert len(skips) == 5 + 2 * 3  # five identity shortcuts, three through a downsampling conv
    assert not any(target.endswith("conv2") for _, target in skips)
    assert run.layer("layer2.0.add").inputs == ["layer2.0.conv2", "layer2.0.downsample"]
    assert run.layer("avgpool").kind == "gap" and run.layer("fc").kind == "logits"
    assert run.count(schema.acts("layer4.1.add")) == 4  # steps 0 to 3
    assert run.layer("layer4.1.add").output_shape == [512, 1, 1]
    assert schema.weights("layer2.0.conv1") in run.streams
    assert schema.weights("layer2.0.conv2") not in run.streams  # it does not open a block
    named = trace_model(model, x[:1], ["layer1.0", "layer2.0.relu_1", "layer3"])
    assert {"layer1.0", "layer2.0.relu_1", "layer3"} <= set(named.names)
    assert named.layer("layer1.0").kind == named.layer("layer3").kind == "add"
    model.eval()
    with torch.no_grad():
        logits = model(x[:4])
    np.testing.assert_allclose(
        run.read(schema.PROBE_PROBS, -1), torch.softmax(logits, 1).numpy(), atol=1e-5
    )


KILLED_LOOP = """
import sys, torch, torch.nn as nn, torch.nn.functional as F
from engine import record
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(256, 2), torch.randint(0, 2, (256,))
rec = record(model, sys.argv[1], probe=(x[:8], y[:8]), optimizer=opt)
while True:
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad(); loss.backward(); opt.step()
    rec.step(loss=loss, logits=logits, targets=y)
"""


def test_a_killed_user_loop_leaves_a_readable_run(tmp_path):
    """A loop of unknown length: streams grow as it goes, and kill -9 at any moment leaves a
    run that opens with every stream readable up to its last commit."""
    folder = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOOP, str(folder)], cwd=tmp_path, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    step = 0
    while step < 1500 and time.monotonic() < deadline:  # past the first 1,024 slots
        assert process.poll() is None, process.stderr.read().decode()
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            step = json.loads((folder / "manifest.json").read_text())["progress"]["step"]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert step >= 1500, "the loop did not get far enough before the deadline"
    run = Run(folder)
    assert run.status == "running"
    recorded = [name for name in run.streams if run.count(name)]
    assert set(run.streams) - set(recorded) == {schema.VAL_LOSS, schema.VAL_ACC}  # no epoch ended
    for name in recorded:
        assert len(run.read(name)) == run.count(name)
    losses = run.read(schema.TRAIN_LOSS)
    assert np.isfinite(losses).all() and len(losses) >= 1500
    np.testing.assert_array_equal(run.steps(schema.TRAIN_LOSS), np.arange(1, len(losses) + 1))


def test_a_lightning_callback_records_the_streams_a_plain_loop_does(tmp_path, digits):
    import lightning.pytorch as pl

    from engine.recording.lightning import RecordCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(4 * 13 * 13, 10),
            )  # fmt: skip

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            logits = self(batch[0])
            return {"loss": F.cross_entropy(logits, batch[1]), "logits": logits}

        def validation_step(self, batch, _):
            logits = self(batch[0])
            self.log("val_loss", F.cross_entropy(logits, batch[1]))
            self.log("val_acc", (logits.argmax(1) == batch[1]).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    def loader(x, y):
        dataset = torch.utils.data.TensorDataset(x.float() / 255, y)
        return torch.utils.data.DataLoader(dataset, batch_size=64)

    train = loader(digits.x_train, digits.y_train)
    val = loader(digits.x_val, digits.y_val)
    torch.manual_seed(0)
    module = Module()
    callback = RecordCallback(tmp_path / "lightning", data=digits)
    trainer = pl.Trainer(
        max_epochs=1,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train, val)
    lit = Run(tmp_path / "lightning")

    torch.manual_seed(0)
    plain_module = Module()
    opt = torch.optim.Adam(plain_module.parameters(), lr=1e-3)
    with record(plain_module, tmp_path / "plain", data=digits, optimizer=opt) as rec:
        plain_loop(plain_module, rec, digits)
    plain = Run(tmp_path / "plain")

    assert lit.status == "finished" and sorted(lit.streams) == sorted(plain.streams)
    assert lit.count(schema.TRAIN_LOSS) == plain.count(schema.TRAIN_LOSS) == 15
    assert lit.count(schema.VAL_ACC) == plain.count(schema.VAL_ACC) == 1
    assert np.isfinite(lit.read(schema.TRAIN_ACC)).all()
    assert lit.optimizer.name == "adam" and lit.layers == plain.layers
    module.eval()
    x = torch.from_numpy(lit.read(schema.PROBE_IMAGES, 0)).float() / 255
    with torch.no_grad():
        expected = module.net[1](module.net[0](x))  # the conv and its ReLU
    np.testing.assert_allclose(lit.read(schema.acts("net.0"), -1), expected.numpy(), **FP16)


def test_the_readme_opens_its_python_section_with_an_example_that_runs(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert section.lstrip().split("\n", 1)[1].lstrip().startswith("```python")
    assert len(code.strip().splitlines()) <= 16
    run_name = re.search(r'run="([^"]+)"', code).group(1)
    env = {**os.environ, "NNREEL_RUNS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    run = Run(tmp_path / run_name)
    assert run.status == "finished" and run.read(schema.VAL_ACC, -1) > 0.5
    assert any(schema.acts(info.name) in run.streams for info in run.layers)


def test_a_stored_program_that_names_other_functions_is_refused(user_run, tmp_path):
    """A run folder is untrusted: a program naming anything but ATen operators, or holding a
    size expression that is code, is refused before torch reads it."""
    import shutil

    run, _ = user_run
    for bad in ('"torch.ops.aten.conv2d.default"', "\"Symbol('s"):
        copy = tmp_path / f"copy{len(bad)}"
        shutil.copytree(run.folder, copy)
        program = copy / run.model["program"]
        text = program.read_text()
        assert bad in text
        if "conv2d" in bad:
            text = text.replace(bad, '"torch.load"', 1)
        else:
            text = text.replace(bad, "\"__import__('os').getcwd() and Symbol('s", 1)
        program.write_text(text)
        with pytest.raises(RunError, match="stored program"):
            load_model(copy)


def test_an_image_folder_is_a_dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, shade in (("cats", 40), ("dogs", 200)):
        (tmp_path / label).mkdir()
        for i in range(10):
            pixels = np.clip(rng.normal(shade, 20, (20 + i, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    data = load_data("folder", root=tmp_path, image_size=16)
    assert data.classes == ["cats", "dogs"] and data.input_shape == (3, 16, 16)
    assert len(data.y_train) == 16 and len(data.y_val) == 4
    dark = data.x_train[data.y_train == 0].float().mean()
    assert dark < 100 < data.x_train[data.y_train == 1].float().mean()
    again = load_data(**data.params)
    assert torch.equal(again.x_val, data.x_val)


class NormalisedDigits(torch.utils.data.Dataset):
    """A torchvision-style dataset: class names, and a transform ending in Normalize."""

    def __init__(self, data):
        import torchvision.transforms.v2 as T

        self.x, self.y, self.classes = data.x_val, data.y_val, [f"digit {c}" for c in data.classes]
        self.transform = T.Compose(
            [T.ToDtype(torch.float32, scale=True), T.Normalize([0.2], [0.3])]
        )

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return self.transform(self.x[index]), int(self.y[index])


def test_a_dataset_with_normalize_is_shown_as_pixels_and_stored_taking_pixels(tmp_path, digits):
    dataset = NormalisedDigits(digits)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32)
    with record(model, tmp_path / "normalised", data=loader) as rec:
        loss, acc = rec.validate()
    run = Run(tmp_path / "normalised")
    assert run.classes[3] == "digit 3" and run.model["normalize"] == {"mean": [0.2], "std": [0.3]}
    first = [int(torch.nonzero(digits.y_val == c)[0]) for c in range(8)]
    np.testing.assert_array_equal(run.read(schema.PROBE_IMAGES, 0), digits.x_val[first].numpy())
    assert run.read(schema.VAL_LOSS, -1) == pytest.approx(loss) and 0 <= acc <= 1
    pixels = digits.x_val[first].float() / 255
    with torch.no_grad():
        expected = model.eval()((pixels - 0.2) / 0.3)
        stored = load_model(run)(pixels)
    np.testing.assert_allclose(stored.numpy(), expected.numpy(), atol=1e-5)


def test_a_users_validation_images_are_kept_for_dataset_examples(tmp_path, digits, monkeypatch):
    """Data nnreel cannot load again (a user's normalised DataLoader): the first validate()
    keeps the images in the run as pixels, so the unit scene's dataset examples work from the
    run alone: each unit's best images are the ones its mean activation ranks first."""
    from engine.analysis.examples import load_examples, record_examples
    from engine.recording import recorder

    dataset = NormalisedDigits(digits)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32)
    with record(model, tmp_path / "kept", data=loader) as rec:
        rec.validate()
        rec.validate()  # kept once
    run = Run(tmp_path / "kept")
    np.testing.assert_array_equal(run.read(schema.data_x("val"), 0), digits.x_val.numpy())
    np.testing.assert_array_equal(run.read(schema.data_y("val"), 0), digits.y_val.numpy())
    record_examples(run, [run.layer("conv0")], k=3)
    examples = load_examples(Run(run.folder), "conv0")
    with torch.no_grad():
        means = model.eval()[:2]((digits.x_val.float() / 255 - 0.2) / 0.3).mean((2, 3)).T
    top3 = torch.sort(means, dim=1, descending=True).values[:, :3].numpy()
    picked = np.take_along_axis(means.numpy(), examples.indices, axis=1)
    np.testing.assert_allclose(picked, top3, rtol=1e-5, atol=1e-6)  # near-ties may swap
    np.testing.assert_allclose(examples.values, picked, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(examples.images, digits.x_val.numpy()[examples.indices])

    monkeypatch.setattr(recorder, "VAL_IMAGES_BYTES", 10 * 28 * 28)  # room for ten
    with record(model, tmp_path / "capped", data=loader) as rec:
        rec.validate()
    capped = Run(tmp_path / "capped")
    np.testing.assert_array_equal(capped.read(schema.data_x("val"), 0), digits.x_val[:10])
    assert capped.meta(schema.data_x("val"))["of"] == len(digits.y_val)


def test_validation_images_that_find_no_room_leave_the_training_alone(
    tmp_path, digits, monkeypatch, capsys
):
    from engine.errors import DiskFullError
    from engine.store import RunWriter

    def full(self, info):
        raise DiskFullError(f"No room for stream {info.name!r}.")

    monkeypatch.setattr(RunWriter, "add_stream", full)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    loader = torch.utils.data.DataLoader(NormalisedDigits(digits), batch_size=32)
    with record(model, tmp_path / "full", data=loader) as rec:
        loss, _ = rec.validate()
    run = Run(tmp_path / "full")
    assert run.status == "finished" and not run.has(schema.data_x("val"))
    assert run.read(schema.VAL_LOSS, -1) == pytest.approx(loss)
    assert "validation images were not kept: No room for stream 'data/val_x'" in (
        capsys.readouterr().err.replace("\n", " ")
    )


def test_nnreels_own_data_is_not_kept_twice(tmp_path, digits):
    """Data nnreel loads again by name stays out of the run."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with record(model, tmp_path / "own", data=digits) as rec:
        rec.validate()
    assert not Run(tmp_path / "own").has(schema.data_x("val"))


def test_a_sequentials_layers_are_named_by_kind_and_index(tmp_path):
    """Named "conv0", "pool2", "fc4" rather than "0", "2", "4" (captions read "channel 3 of
    0"); a default name picks its layer as folded by default, a module name still cuts there.
    The model is called what it stacks ("the Sequential" said nothing)."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10)
    )
    example = torch.zeros(2, 1, 28, 28)
    graph = trace_model(model, example)
    assert graph.names == ["conv0", "pool2", "flatten3", "fc4"]
    assert graph.layer("conv0").activation == "ReLU" and graph.layer("conv0").module == "0"
    assert trace_model(model, example, ["conv0", "pool2"]).names == graph.names
    assert trace_model(model, example, ["0"]).names[:2] == ["0", "act1"]  # before its ReLU
    with pytest.raises(KeyError, match=r"'conv9'.*Valid layer or nodes: conv0, pool2"):
        trace_model(model, example, ["conv9"])
    record(model, tmp_path / "stack", probe=torch.rand(4, 1, 28, 28)).close()
    assert Run(tmp_path / "stack").model["arch"] == "Sequential CNN"


def test_a_recording_holds_its_run_against_other_writers_until_it_closes(tmp_path):
    """record() writes through the run store's one writer per run: a second recorder (or a
    trainer) on the same run is refused while the first is open, and takes it after."""
    from engine.errors import RunBusyError

    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    folder = tmp_path / "held"
    with record(model, folder, probe=(x[:4], y[:4])) as rec:
        rec.step(loss=F.cross_entropy(model(x), y))
        with pytest.raises(RunBusyError, match="written by"):
            record(model, folder, probe=(x[:4], y[:4]), overwrite=True)
    assert Run(folder).status == "finished" and Run(folder).writer_pid() is None
    record(model, folder, probe=(x[:4], y[:4]), overwrite=True).close()
    assert Run(folder).count(schema.TRAIN_LOSS) == 0


def test_quick_epochs_commit_their_numbers_at_once_and_save_the_weights_once_a_minute(
    tmp_path, monkeypatch
):
    """A save of the weights costs what several steps do: a loop of quick epochs saves them
    when it ends, not at each validate(), and its numbers are readable at once all the same.
    Epochs a minute apart save them at each validate(), for what a killed run still shows."""
    from engine.recording import recorder

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))

    def epoch(rec, acc: float) -> None:
        logits = model(x)
        rec.step(loss=F.cross_entropy(logits, y), logits=logits, targets=y)
        rec.validate(loss=1.0, acc=acc)

    quick = tmp_path / "quick"
    with record(model, quick, probe=(x[:4], y[:4])) as rec:
        epoch(rec, 0.25)
        epoch(rec, 0.5)
        assert Run(quick).read(schema.VAL_ACC).tolist() == [0.25, 0.5]
        assert not (quick / CHECKPOINT_FILE).exists()
    assert (quick / MODEL_FILE).exists()

    monkeypatch.setattr(recorder, "EPOCH_WEIGHTS_SECONDS", 0.0)
    slow = tmp_path / "slow"
    with record(model, slow, probe=(x[:4], y[:4])) as rec:
        epoch(rec, 0.25)
        assert Run(slow).manifest["checkpoint"]["step"] == 1
        assert load_model(slow) is not None
        epoch(rec, 0.5)
        assert Run(slow).manifest["checkpoint"]["step"] == 2


def test_the_logits_kept_for_the_accuracy_are_flushed_before_they_pile_up(tmp_path):
    """Quick steps are flushed at most once a second, but a model with many classes
    (480,000 logits a step here) is flushed as soon as its kept logits pass 16 MB."""
    classes = 60_000
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, classes))
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, classes, (8,))
    names = [f"c{i}" for i in range(classes)]
    config = RecordConfig(snapshots="epoch", weights="epoch", layers=[])
    folder, probe = tmp_path / "wide", (x[:2], y[:2])
    with record(model, folder, probe=probe, classes=names, config=config) as rec:
        flushed_at = None
        for step in range(1, 25):
            logits = model(x)
            rec.step(loss=F.cross_entropy(logits, y), logits=logits, targets=y)
            if flushed_at is None and rec.writer.pending_count(schema.TRAIN_LOSS):
                flushed_at = step
    assert flushed_at == 9  # 9 × 480,000 > 2**22: the first step past the bound
    assert Run(folder).count(schema.TRAIN_ACC) == 24


@pytest.mark.parametrize(("steps", "every"), [(8, 1), (188, 2), (320, 4), (6000, 20)])
def test_gradient_statistics_are_spaced_by_what_they_cost_and_what_a_run_can_show(
    tmp_path, steps, every
):
    """About 300 points; at most every 4th step (they read every parameter and gradient) while
    that leaves 75 points, so a short run still has a history to show."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.randn(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    rec = record(model, tmp_path / "r", probe=(x, y), epochs=1, steps_per_epoch=steps)
    rec.close()
    assert Run(tmp_path / "r").manifest["streams"][schema.GRAD_ABS_MEAN]["cadence"] == (
        f"every:{every}"
    )


@pytest.mark.parametrize("cadence", ["every:7", "log:20", "log:2", "epoch", "once"])
@pytest.mark.parametrize("length", [(500, 50), (None, None)], ids=["known", "open-ended"])
def test_a_step_finds_the_next_snapshot_due_without_missing_one(cadence, length):
    """A training step asks only "is anything due yet?" (one comparison with the next due
    step); walking those next steps visits exactly the steps each cadence records on."""
    due = Due(cadence, *length)
    expected = [step for step in range(3000) if due.at(step)]
    walked, step = [0], 0
    while (step := due.next_after(step)) < 3000:
        walked.append(step)
    assert walked == expected


def test_each_step_records_its_own_batch_accuracy_whatever_the_batch_size(tmp_path):
    """Steps buffered together are scored in one go per batch shape: an epoch's last, smaller
    batch, an accuracy given as a number and a step without one each keep their own value."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    config = RecordConfig(snapshots="epoch", weights="epoch", layers=[])
    expected = []
    with record(model, tmp_path / "acc", probe=torch.randn(2, 4), config=config) as rec:
        for size in (8, 8, 5, 8, 0, 3, None):
            if size is None:  # no logits, no number: unknown
                rec.step(loss=torch.tensor(1.0))
                expected.append(math.nan)
            elif size == 0:  # the user's own number
                rec.step(loss=torch.tensor(1.0), acc=0.25)
                expected.append(0.25)
            else:
                x, y = torch.randn(size, 4), torch.randint(0, 3, (size,))
                logits = model(x)
                rec.step(loss=F.cross_entropy(logits, y), logits=logits, targets=y)
                expected.append(float((logits.argmax(1) == y).float().mean()))
    recorded = Run(tmp_path / "acc").read(schema.TRAIN_ACC)
    np.testing.assert_allclose(recorded, expected, rtol=1e-6)


def test_gradient_statistics_are_each_layers_mean_abs_gradient_and_weight_norm(tmp_path):
    """What the gradients scene plots, per weighted layer: mean |gradient| and the weight's
    norm at that step, read after the update and before the next zero_grad."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    config = RecordConfig(snapshots="epoch", weights="epoch", stats="every:1", layers=[])
    means, norms = [], []
    with record(
        model, tmp_path / "s", probe=torch.randn(2, 4), optimizer=optimizer, config=config
    ) as rec:
        for _ in range(3):
            x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            layers = (model[0].weight, model[2].weight)
            means.append([float(w.grad.abs().mean()) for w in layers])
            norms.append([float(w.detach().norm()) for w in layers])
            rec.step(loss=torch.tensor(1.0))
    run = Run(tmp_path / "s")
    np.testing.assert_allclose(run.read(schema.GRAD_ABS_MEAN), means, rtol=1e-5)
    np.testing.assert_allclose(run.read(schema.WEIGHT_NORM), norms, rtol=1e-5)


def test_absolute_sums_of_small_and_large_gradients_are_exact_to_float32():
    """Large tensors are summed in slices, small ones in one fused call: either way each
    layer's sum of |gradient| is the float64 sum, to float32 precision."""
    from engine.recording.recorder import ABS_SLICE, abs_sums

    torch.manual_seed(0)
    tensors = [
        torch.randn(3, 4),
        torch.randn(ABS_SLICE * 2 + 5),  # three slices, the last a short one
        torch.randn(64, 2 * ABS_SLICE // 64).t(),  # not contiguous
        torch.zeros(7),
    ]
    found = abs_sums(tensors)
    assert all(value.dtype == torch.float32 and value.dim() == 0 for value in found)
    expected = [float(t.double().abs().sum()) for t in tensors]
    np.testing.assert_allclose([float(v) for v in found], expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("before", "after", "kept"),
    [
        ([], [nn.ReLU(inplace=True)], "computed"),
        ([], [nn.Tanh()], "computed"),
        ([], [nn.LeakyReLU(0.2)], "computed"),
        ([], [nn.ELU(0.5), nn.Dropout(0.3)], "computed"),
        ([], [nn.Sigmoid()], "computed"),
        ([nn.LayerNorm(2)], [nn.ReLU()], "pre only"),  # not a chain: stored, ReLU of the pre
        ([], [nn.ReLU(), nn.BatchNorm1d(6)], "both"),  # not ReLU of the pre-activation
        ([], [nn.GELU()], "both"),  # an activation the store does not compute
    ],
)
def test_every_plane_layer_reads_back_as_what_the_model_computes_on_the_mesh(
    tmp_path, before, after, kept
):
    """2-D models: a plain chain of linear layers and activations records its parameters and
    its planes are computed when read; any other model stores them (a layer whose output is
    exactly ReLU of its pre-activation, the pre-activation only). Either way every layer
    reads back as what the model computes on the mesh."""
    torch.manual_seed(0)
    hidden = nn.Sequential(*before, nn.Linear(2, 6), *after)
    model = nn.Sequential(hidden, nn.Linear(6, 1)).eval()
    config = RecordConfig(snapshots="epoch", weights="epoch", mesh=5)
    with record(model, tmp_path / "p", probe=torch.randn(8, 2), config=config) as rec:
        layer = rec.act_layers[0]
    run = Run(tmp_path / "p")
    stored = {n for n in run.streams if n.startswith("plane/") and schema.layer_of(n) == layer}
    assert (
        stored
        == {
            "computed": set(),
            "pre only": {schema.plane_pre(layer)},
            "both": {schema.plane(layer), schema.plane_pre(layer)},
        }[kept]
    )
    assert (schema.PLANE_FUNCTION in run.manifest and run.plane_function is not None) == (
        kept == "computed"
    )
    mesh = plane_mesh(run.meta(schema.PLANE_PROB)["extent"], 5)
    with torch.no_grad():
        values = hidden(mesh).T.reshape(-1, 5, 5).numpy()
        p = torch.sigmoid(model(mesh)[:, 0]).reshape(5, 5).numpy()
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if kept == "computed" else FP16
    np.testing.assert_allclose(run.read(schema.plane(layer), 0), values, **tolerance)
    np.testing.assert_allclose(run.read(schema.PLANE_PROB, 0)[1], p, **tolerance)


def test_a_validation_after_a_diverged_step_names_that_step(tmp_path):
    """Validation does not flush the buffered losses (a quick epoch's end would pay for it),
    but when it finds the model diverged, the training loss that went first is named."""
    model = nn.Linear(4, 3)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    config = RecordConfig(snapshots="epoch", weights="epoch", layers=[])
    rec = record(model, tmp_path / "d", probe=(x[:2], y[:2]), config=config)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 2"), rec:
        rec.step(loss=torch.tensor(1.0))
        with torch.no_grad():
            model.weight.fill_(math.nan)
        rec.step(loss=torch.tensor(math.nan))
        rec.validate((x, y))
    run = Run(tmp_path / "d")
    assert run.status == "failed" and run.count(schema.TRAIN_LOSS) == 1


def test_a_loss_per_sample_is_refused_at_its_step_and_the_steps_before_it_are_kept(tmp_path):
    """``reduction='none'`` gives one loss per sample: the step that passes it is told to
    pass the mean, and the run keeps the steps recorded before it."""
    model = nn.Linear(4, 3)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    config = RecordConfig(snapshots="epoch", weights="epoch", layers=[])
    rec = record(model, tmp_path / "s", probe=(x[:2], y[:2]), config=config)
    with pytest.raises(NnreelError, match=r"shape \(16,\).*loss\.mean\(\)"), rec:
        rec.step(loss=F.cross_entropy(model(x), y), logits=model(x), targets=y)
        rec.step(loss=F.cross_entropy(model(x), y, reduction="none"))
    run = Run(tmp_path / "s")
    assert run.status == "failed" and run.count(schema.TRAIN_LOSS) == 1


def test_buffered_steps_are_scored_per_batch_shape_given_numbers_kept_and_none_nan():
    """A flush scores the kept logits of many steps at once: a smaller last batch, a single
    logit (positive: class 1), an accuracy given as a number, and a step without one."""
    from engine.recording.scalars import StepScalars

    kept = StepScalars(torch.device("cpu"))
    two = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])  # predicts 0, 1, 0
    kept.add(1, torch.tensor(0.5), 0.1, two, torch.tensor([0, 1, 1]))  # 2 of 3
    kept.add(2, torch.tensor(0.4), 0.1, acc=0.25)
    kept.add(3, torch.tensor(0.3), 0.1, two[:2], torch.tensor([0, 0]))  # 1 of 2
    kept.add(4, torch.tensor(0.2), 0.1)
    kept.add(5, torch.tensor(0.1), 0.1, two, torch.tensor([0, 1, 0]))  # 3 of 3
    assert len(kept) == 5 and kept.logits == 6 + 4 + 6
    steps, table = kept.table()
    assert steps.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(table[:, 0], [0.5, 0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(table[:, 1], [2 / 3, 0.25, 0.5, np.nan, 1.0])
    np.testing.assert_allclose(table[:, 2], 0.1)
    single = StepScalars(torch.device("cpu"))
    single.add(1, torch.tensor(0.5), 0.1, torch.tensor([[1.5], [-0.5]]), torch.tensor([1, 1]))
    assert single.table()[1][:, 1].tolist() == [0.5]

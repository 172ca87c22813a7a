"""Training that records: real accuracy, recorded tensors equal the model's own, determinism,
resume, kill -9, Ctrl-C, divergence, the disk budget and torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import RunError
from engine.presets import preset_config
from engine.recording import load_model
from engine.recording.planes import plane_mesh
from engine.recording.recorder import Recorder, TrainingDiverged
from engine.recording.schedule import schedule
from engine.store import MODEL_FILE, Run, RunWriter, schema
from engine.training import resume, train
from engine.training.loop import Trainer

REPO = Path(__file__).resolve().parents[1]


def tiny_cnn_config(seed: int = 0):
    config = preset_config("smallcnn-synth")
    config.data_settings.update(train_size=640, val_size=128)
    config.epochs, config.seed = 1, seed
    config.record.snapshots = "log:5"
    config.record.probe_size = 4
    return config


def ring_config(epochs: int = 12):
    config = preset_config("mlp-ring")
    config.epochs = epochs
    config.record.snapshots = config.record.weights = "log:20"
    config.record.mesh = 32
    return config


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "cnn"
    train(tiny_cnn_config(), folder, quiet=True)
    return Run(folder)


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "ring"
    result = train(ring_config(), folder, quiet=True)
    return Run(folder), result


def capture_outputs(model, x, names):
    seen = {}
    handles = [
        model.layer(n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o))
        for n in names
    ]
    with torch.no_grad():
        logits = model(x)
    for handle in handles:
        handle.remove()
    return logits, seen


def test_recorded_activations_are_the_models_own(cnn_run):
    model = load_model(cnn_run)
    images = cnn_run.read(schema.PROBE_IMAGES, 0)
    assert images.dtype == np.uint8 and images.shape == (4, 1, 28, 28)
    assert list(cnn_run.read(schema.PROBE_LABELS, 0)) == [0, 1, 2, 3]
    x = torch.from_numpy(images).float() / 255
    names = ["conv1", "pool1", "conv2", "pool2", "fc"]
    logits, outputs = capture_outputs(model, x, names)
    assert cnn_run.steps(schema.acts("conv1"))[-1] == cnn_run.manifest["progress"]["total_steps"]
    for name in names:
        recorded = cnn_run.read(schema.acts(name), -1).astype(np.float32)
        np.testing.assert_allclose(recorded, outputs[name].numpy(), rtol=2e-3, atol=2e-3)
    assert cnn_run.read(schema.acts("conv1"), -1).min() >= 0  # post-ReLU
    probs = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(cnn_run.read(schema.PROBE_PROBS, -1), probs, rtol=1e-4, atol=1e-5)


def test_recorded_weights_and_stats_follow_their_cadences(cnn_run):
    config = tiny_cnn_config()
    total = cnn_run.manifest["progress"]["total_steps"]
    expected = schedule(config.record.weights, total, total)
    np.testing.assert_array_equal(cnn_run.steps(schema.weights("conv1")), expected)
    model = load_model(cnn_run)
    final = cnn_run.read(schema.weights("conv1"), -1).astype(np.float32)
    np.testing.assert_allclose(final, model.layer("conv1").conv.weight.detach().numpy(), atol=1e-3)
    assert cnn_run.meta(schema.GRAD_ABS_MEAN)["layers"] == ["conv1", "conv2", "fc"]
    grads = cnn_run.read(schema.GRAD_ABS_MEAN)
    assert grads.shape[1] == 3 and (grads > 0).all() and np.isfinite(grads).all()
    assert len(cnn_run.read(schema.TRAIN_LOSS)) == total
    np.testing.assert_array_equal(cnn_run.steps(schema.VAL_ACC), [0, total])
    assert cnn_run.read(schema.VAL_ACC, 0) < 0.5 < cnn_run.read(schema.VAL_ACC, -1)


def test_same_seed_same_numbers(tmp_path, cnn_run):
    again = train(tiny_cnn_config(), tmp_path / "again", quiet=True)
    other = Run(again.folder)
    np.testing.assert_array_equal(other.read(schema.TRAIN_LOSS), cnn_run.read(schema.TRAIN_LOSS))
    np.testing.assert_array_equal(
        other.read(schema.acts("conv2")), cnn_run.read(schema.acts("conv2"))
    )
    changed = train(tiny_cnn_config(seed=1), tmp_path / "seed1", quiet=True)
    assert not np.array_equal(
        Run(changed.folder).read(schema.TRAIN_LOSS), cnn_run.read(schema.TRAIN_LOSS)
    )


def test_mlp_fits_ring_well_above_chance(ring_run):
    run, result = ring_run
    # Ring and disc overlap: the best possible accuracy is about 79 %, chance is 50 %.
    assert result.val_acc > 0.7
    assert run.read(schema.VAL_ACC, -1) == pytest.approx(result.val_acc)
    probs = run.read(schema.PLANE_VAL_PROB, -1).astype(np.float32)
    labels = run.read(schema.data_y("val"), 0)
    assert (probs.argmax(1) == labels).mean() == pytest.approx(result.val_acc, abs=0.02)


def test_recorded_plane_is_the_models_own_output(ring_run):
    run, _ = ring_run
    model = load_model(run)
    meta = run.meta(schema.PLANE_PROB)
    mesh = plane_mesh(meta["extent"], meta["mesh"])
    logits, outputs = capture_outputs(model, mesh, ["hidden1", "hidden2"])
    r = meta["mesh"]
    p_ring = torch.sigmoid(logits[:, 0]).reshape(r, r).numpy()
    np.testing.assert_allclose(run.read(schema.PLANE_PROB, -1)[1], p_ring, atol=2e-3)
    np.testing.assert_array_equal(run.read(schema.PLANE_CLASS, -1), (p_ring > 0.5).astype(np.uint8))
    hidden = outputs["hidden2"].T.reshape(-1, r, r).numpy()
    np.testing.assert_allclose(run.read(schema.plane("hidden2"), -1), hidden, rtol=2e-3, atol=2e-3)
    pre = run.read(schema.plane_pre("hidden1"), -1).astype(np.float32)
    post = run.read(schema.plane("hidden1"), -1).astype(np.float32)
    np.testing.assert_allclose(post, np.maximum(pre, 0), atol=1e-3)
    assert (pre < 0).any()
    np.testing.assert_array_equal(run.steps(schema.PLANE_PROB)[:3], [0, 1, 2])


def test_budget_refusal_happens_before_writing(tmp_path):
    config = tiny_cnn_config()
    config.budget_gb = 1e-5
    with pytest.raises(RunError, match=r"(?s)above the budget.*acts/conv1.*--budget-gb"):
        train(config, tmp_path / "big", quiet=True)
    assert not (tmp_path / "big").exists()


def test_divergence_stops_with_a_clear_message_and_keeps_records(tmp_path):
    config = ring_config(epochs=3)
    config.lr, config.momentum = 1e30, 0.0
    with pytest.raises(TrainingDiverged, match=r"loss became .* at step \d+.*--lr"):
        train(config, tmp_path / "nan", quiet=True)
    run = Run(tmp_path / "nan")
    assert run.status == "failed" and "loss became" in run.manifest["message"]
    assert np.isfinite(run.read(schema.TRAIN_LOSS)).all()


def test_training_without_recording_keeps_final_weights(tmp_path):
    config = ring_config(epochs=1)
    config.record = None
    train(config, tmp_path / "plain", quiet=True)
    run = Run(tmp_path / "plain")
    assert run.streams == {} and (run.folder / MODEL_FILE).exists()
    assert load_model(run).layer("hidden1").linear.weight.shape == (9, 2)


def _train_in_subprocess(folder: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine", "train", "mlp-ring", "--run", str(folder)]
    command += ["--mesh", "16", "--snapshots", "log:40", "--checkpoint-every", "50"]
    command += ["--checkpoint-seconds", "0", *extra]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_for_checkpoint(folder: Path, process: subprocess.Popen, past_step: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be interrupted"
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            if (manifest.get("checkpoint") or {}).get("step", 0) > past_step:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / MODEL_FILE, weights_only=True)


@pytest.mark.parametrize("seconds", [0, 3600])
def test_quick_steps_checkpoint_at_most_every_checkpoint_seconds(tmp_path, monkeypatch, seconds):
    """A checkpoint every step of a tiny model would spend its time saving: within
    ``checkpoint_seconds`` of the last one, a checkpoint falls due and is not saved; 0 saves
    every one. Either way the run finishes with its final checkpoint."""
    saved = []
    save = RunWriter.save_checkpoint

    def counting(writer, state, *, step, epoch):
        saved.append(step)
        save(writer, state, step=step, epoch=epoch)

    monkeypatch.setattr(RunWriter, "save_checkpoint", counting)
    config = ring_config(epochs=2)
    config.checkpoint_every, config.checkpoint_seconds = 25, seconds
    train(config, tmp_path / "run", quiet=True)
    run = Run(tmp_path / "run")
    total, per_epoch = run.manifest["progress"]["step"], run.manifest["progress"]["steps_per_epoch"]
    every = sorted({*range(0, total + 1, 25), per_epoch, total})  # each epoch's end too
    assert saved == (every if seconds == 0 else [0, total])
    assert run.manifest["checkpoint"]["step"] == total


def test_a_negative_checkpoint_interval_is_refused_before_any_run_is_written(tmp_path):
    from engine.errors import NnreelError

    config = ring_config(epochs=1)
    config.checkpoint_seconds = -1
    with pytest.raises(NnreelError, match="--checkpoint-seconds cannot be negative"):
        train(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


class Killed(BaseException):
    """Stands for a kill: nothing in the trainer catches it."""


def train_killed_after_checkpoint(config, folder, monkeypatch, step: int) -> None:
    """Train into ``folder`` until the checkpoint at ``step`` is saved, and stop there as a
    kill would, before the manifest names it."""
    save = RunWriter.save_tensors

    def save_then_die(writer, name, obj):
        save(writer, name, obj)
        if isinstance(obj, dict) and obj.get("step") == step:
            raise Killed

    monkeypatch.setattr(RunWriter, "save_tensors", save_then_die)
    with pytest.raises(Killed):
        train(config, folder, quiet=True)
    monkeypatch.setattr(RunWriter, "save_tensors", save)


def test_a_kill_right_after_a_checkpoint_is_saved_loses_no_recorded_step(tmp_path, monkeypatch):
    """The checkpoint file is replaced before the manifest names it: a kill in between must
    not leave streams that stop before the checkpoint's step (the resume would skip steps)."""
    config = ring_config(epochs=2)
    config.checkpoint_every, config.checkpoint_seconds = 50, 0
    train(config, tmp_path / "straight", quiet=True)
    train_killed_after_checkpoint(config, tmp_path / "killed", monkeypatch, step=100)
    assert Run(tmp_path / "killed").steps(schema.TRAIN_LOSS)[-1] >= 100
    resume(tmp_path / "killed", quiet=True)
    for name in (schema.TRAIN_LOSS, schema.VAL_ACC, schema.PLANE_PROB):
        np.testing.assert_array_equal(
            Run(tmp_path / "killed").read(name), Run(tmp_path / "straight").read(name)
        )


def test_a_run_begun_storing_its_planes_resumes_storing_them(tmp_path, monkeypatch):
    """A 2-D run begun by an nnreel that stored every plane (before plain MLPs' planes were
    computed from their parameters) is resumed by this one: it goes on storing them, and
    reads as the same run as one computed from the start."""
    config = ring_config(epochs=2)
    config.checkpoint_every, config.checkpoint_seconds = 50, 0
    train(config, tmp_path / "straight", quiet=True)
    monkeypatch.setattr(Recorder, "_plane_function", lambda self: None)  # the older nnreel
    train_killed_after_checkpoint(config, tmp_path / "older", monkeypatch, step=100)
    monkeypatch.undo()
    resume(tmp_path / "older", quiet=True)
    older, straight = Run(tmp_path / "older"), Run(tmp_path / "straight")
    assert older.plane_function is None and schema.PLANE_PROB in older.streams
    assert straight.plane_function is not None and schema.PLANE_PROB in straight.computed
    np.testing.assert_array_equal(older.read(schema.TRAIN_LOSS), straight.read(schema.TRAIN_LOSS))
    np.testing.assert_array_equal(older.steps(schema.PLANE_PROB), straight.steps(schema.PLANE_PROB))
    for name in (schema.PLANE_PROB, schema.plane("hidden2")):
        np.testing.assert_allclose(older.read(name), straight.read(name), rtol=2e-3, atol=2e-3)


def test_kill_9_leaves_a_readable_run_that_resumes_to_the_same_weights(tmp_path):
    folder = tmp_path / "killed"
    process = _train_in_subprocess(folder, "--epochs", "60")
    _wait_for_checkpoint(folder, process, past_step=120)
    process.send_signal(signal.SIGKILL)
    process.wait()

    run = Run(folder)
    assert run.status == "running"
    for name in run.streams:
        assert len(run.read(name)) == run.count(name) > 0
    assert np.isfinite(run.read(schema.TRAIN_LOSS)).all()
    assert run.steps(schema.TRAIN_LOSS)[-1] >= run.manifest["checkpoint"]["step"]

    result = resume(folder, quiet=True)
    assert result.status == "finished" and Run(folder).status == "finished"
    uninterrupted = tmp_path / "straight"
    config = preset_config("mlp-ring")
    config.epochs, config.record.mesh, config.record.snapshots = 60, 16, "log:40"
    config.checkpoint_every, config.checkpoint_seconds = 50, 0
    train(config, uninterrupted, quiet=True)
    resumed, straight = _weights(folder), _weights(uninterrupted)
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=0)
    np.testing.assert_array_equal(
        Run(folder).read(schema.TRAIN_LOSS), Run(uninterrupted).read(schema.TRAIN_LOSS)
    )


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    folder = tmp_path / "stopped"
    process = _train_in_subprocess(folder, "--epochs", "60")
    _wait_for_checkpoint(folder, process, past_step=0)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "--resume" in output
    run = Run(folder)
    assert run.status == "interrupted"
    assert run.manifest["checkpoint"]["step"] == run.manifest["progress"]["step"]
    assert run.steps(schema.TRAIN_LOSS)[-1] == run.manifest["checkpoint"]["step"]


def test_torchrun_trains_on_two_cpu_processes_recording_once(tmp_path):
    folder = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", "29517", "-m", "engine", "train", "mlp-ring", "--run-name", str(folder),
        "--epochs", "12", "--batch-size", "64", "--mesh", "16", "--snapshots", "log:10",
        "--device", "cpu", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    run = Run(folder)
    assert run.status == "finished"
    assert run.read(schema.VAL_ACC, -1) > 0.7
    assert run.count(schema.TRAIN_LOSS) == run.manifest["progress"]["total_steps"]


def test_small_models_train_on_one_thread_and_leave_the_setting_as_it_was(tmp_path):
    before = torch.get_num_threads()
    trainer = Trainer(ring_config(epochs=1), tmp_path / "t", quiet=True)
    assert trainer.device.type == "cpu" and trainer.threads == 1
    trainer.start()
    assert torch.get_num_threads() == before


def test_fine_tuning_from_weights_keeps_pruned_zeros(tmp_path, ring_run):
    run, _ = ring_run
    weights = torch.load(run.folder / MODEL_FILE, weights_only=True)
    weights["hidden2.linear.weight"][:, :5] = 0
    torch.save(weights, tmp_path / "pruned.pt")
    config = ring_config(epochs=2)
    config.init_weights, config.keep_zeros = str(tmp_path / "pruned.pt"), True
    config.parent = {"run": str(run.folder)}
    train(config, tmp_path / "tuned", quiet=True)
    tuned = Run(tmp_path / "tuned")
    assert tuned.manifest["parent"] == {"run": str(run.folder)}
    after = torch.load(tmp_path / "tuned" / MODEL_FILE, weights_only=True)
    assert (after["hidden2.linear.weight"][:, :5] == 0).all()
    assert not torch.equal(
        after["hidden2.linear.weight"][:, 5:], weights["hidden2.linear.weight"][:, 5:]
    )


@pytest.mark.parametrize(
    ("preset", "train_size", "epochs"), [("smallcnn-synth", 6400, 1), ("vgg16-synth", 4800, 2)]
)
def test_cnns_beat_90_percent_on_offline_digits(tmp_path, preset, train_size, epochs):
    config = preset_config(preset)
    config.data_settings.update(train_size=train_size, val_size=500)
    config.epochs = epochs
    config.record = None
    result = train(config, tmp_path / preset, quiet=True)
    assert result.val_acc > 0.9


def test_small_cnn_learns_real_mnist_digits(tmp_path):
    shared = REPO.parent / "shared" / "data" / "mnist"
    if not (shared / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the real MNIST test split is not at {shared} (see shared/data/README.md)")
    config = preset_config("smallcnn-mnist")
    config.dataset, config.data_root = "mnist-test", str(shared)
    config.data_settings = {"train_size": 4000, "val_size": 1000}
    config.epochs, config.record = 1, None
    result = train(config, tmp_path / "mnist", quiet=True)
    assert result.val_acc > 0.85  # chance is 10 %

"""Training stopped by accident: kill -9 at every checkpoint and validation boundary, two
writers on one run, Ctrl-C twice, a full disk, an act-max recording made between a stop and
its resume. Every resumed run must equal one made without interruption, bit for bit, every
stream included (both made on this machine, in this test: the numbers differ across CPUs)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import children
import numpy as np
import pytest
import torch

from engine.actmax import RenderSettings, load_actmax, record_actmax
from engine.errors import DiskFullError, RunBusyError, RunError
from engine.presets import preset_config
from engine.recording import load_model
from engine.store import MODEL_FILE, Run, RunWriter, StreamInfo, schema
from engine.store import files as store_files
from engine.training import resume, train

REPO = Path(__file__).resolve().parents[1]


class Killed(BaseException):
    """Stands for a kill inside this process: nothing in the trainer catches it."""


def tiny_ring(checkpoint_every: int = 2):
    """8 steps: 2 epochs of 4, a checkpoint every ``checkpoint_every`` steps and at each
    epoch's end that has none (none left out for being too soon: the calls a test counts are
    not timed)."""
    config = preset_config("mlp-ring")
    config.data_settings.update(train_size=128, val_size=64)
    config.epochs, config.batch_size, config.checkpoint_every = 2, 32, checkpoint_every
    config.checkpoint_seconds = 0
    config.record.snapshots = config.record.weights = "log:5"
    config.record.mesh = 8
    return config


def assert_same_run(folder: Path, reference: Path) -> None:
    """Finished, with the same streams, the same snapshots at the same steps, bit for bit,
    and the same final weights."""
    run, ref = Run(folder), Run(reference)
    assert run.status == "finished", run.manifest["message"]
    assert sorted(run.streams) == sorted(ref.streams)
    for name in ref.streams:
        assert run.count(name) == ref.count(name), name
        np.testing.assert_array_equal(run.steps(name), ref.steps(name), err_msg=name)
        if ref.count(name):
            np.testing.assert_array_equal(run.read(name), ref.read(name), err_msg=name)
    weights = torch.load(folder / MODEL_FILE, weights_only=True)
    for key, value in torch.load(reference / MODEL_FILE, weights_only=True).items():
        assert torch.equal(weights[key], value), key


def assert_readable(folder: Path) -> None:
    run = Run(folder)
    for name in run.streams:
        assert len(run.steps(name)) == run.count(name)
        if run.count(name):
            assert len(run.read(name)) == run.count(name)


@pytest.fixture(scope="module")
def one_thread():
    """The tests here compare runs made in this process with runs made in children, which
    train on one thread: so does this process meanwhile."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, one_thread) -> Path:
    """``tiny_ring()`` trained without interruption, in a child like the killed ones."""
    folder = tmp_path_factory.mktemp("runs") / "straight"
    assert children.run_child(children.train_plainly, tiny_ring(), folder) == 0
    return folder


BOUNDARIES = [
    ("Trainer._validate", "before"),
    ("Trainer._validate", "after"),
    ("RunWriter.save_checkpoint", "before"),
    ("RunWriter.save_checkpoint", "after"),
    ("RunWriter.save_tensors", "after"),  # a checkpoint (or model.pt) replaced, not yet named
    ("RunWriter.set_status", "before"),
]


def count_calls(monkeypatch, tmp_path) -> list[tuple[str, str, int]]:
    """Every (method, when, n) boundary an uninterrupted ``tiny_ring()`` run passes."""
    calls: dict[str, int] = {}
    for method in {method for method, _ in BOUNDARIES}:
        owner, name = method.split(".")
        original = getattr(children.OWNERS[owner], name)

        def counting(*args, _original=original, _method=method, **kwargs):
            calls[_method] = calls.get(_method, 0) + 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(children.OWNERS[owner], name, counting)
    train(tiny_ring(), tmp_path / "counted", quiet=True)
    monkeypatch.undo()
    return [(m, when, n) for m, when in BOUNDARIES for n in range(1, calls[m] + 1)]


def test_kill_9_at_every_boundary_resumes_to_the_same_run(
    straight, tmp_path, monkeypatch, one_thread
):
    boundaries = count_calls(monkeypatch, tmp_path)
    assert len(boundaries) > 20
    for method, when, n in boundaries:
        folder = tmp_path / f"{method}-{when}-{n}"
        code = children.run_child(children.train_and_die, tiny_ring(), folder, method, when, n)
        assert code == -signal.SIGKILL, f"{method} {when} call {n}: exit code {code}"
        assert_readable(folder)
        assert Run(folder).status == "running"
        resume(folder, quiet=True)
        assert_same_run(folder, straight)


@pytest.mark.parametrize("epoch_end", [4, 8])
def test_a_kill_during_an_epochs_validation_after_a_checkpoint_keeps_that_validation(
    straight, tmp_path, monkeypatch, one_thread, epoch_end
):
    """checkpoint_every falls on the epoch's last step, so the checkpoint is saved before
    the validation; killed in between, the resumed run must validate that epoch (issue 17
    case 3), the last one included."""
    from engine.training.loop import Trainer

    validate = Trainer._validate

    def die_at_epoch_end(trainer, step, epoch):
        if step == epoch_end:
            raise Killed
        validate(trainer, step, epoch)

    monkeypatch.setattr(Trainer, "_validate", die_at_epoch_end)
    with pytest.raises(Killed):
        train(tiny_ring(checkpoint_every=4), tmp_path / "killed", quiet=True)
    monkeypatch.undo()
    assert Run(tmp_path / "killed").manifest["checkpoint"]["step"] == epoch_end
    resume(tmp_path / "killed", quiet=True)
    assert list(Run(tmp_path / "killed").steps(schema.VAL_ACC)) == [0, 4, 8]
    assert_same_run(tmp_path / "killed", straight)


def test_killed_before_the_first_checkpoint_resume_starts_over(
    straight, tmp_path, monkeypatch, one_thread
):
    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(RunWriter, "save_checkpoint", die)
    with pytest.raises(Killed):
        train(tiny_ring(), tmp_path / "early", quiet=True)
    monkeypatch.undo()
    assert Run(tmp_path / "early").manifest["checkpoint"] is None
    result = resume(tmp_path / "early", quiet=True)
    assert result.status == "finished"
    assert_same_run(tmp_path / "early", straight)


def lose_what_was_not_synced(folder: Path) -> int:
    """Make the run's files what a disk holds after a power cut: the snapshots the manifest
    counts beyond its checkpoint's never arrived (steps -1 as created, data zeros as
    reserved). Returns how many were lost."""
    manifest = Run(folder).manifest
    durable = manifest["checkpoint"]["counts"]
    lost = 0
    for name, entry in manifest["streams"].items():
        start, stop = durable.get(name, 0), entry["count"]
        for suffix, blank in ((".npy", 0), (".steps.npy", -1)):
            array = np.load(folder / "streams" / f"{name}{suffix}", mmap_mode="r+")
            array[start:stop] = blank
            array.flush()
        lost += stop - start
    return lost


@pytest.mark.parametrize("manifest_lost", [False, True])
def test_a_power_cut_after_a_checkpoint_reads_and_resumes_from_it(
    straight, tmp_path, monkeypatch, one_thread, manifest_lost
):
    """The machine stops (a power cut, a preempted cloud machine) after a commit that was not
    synced: the manifest on disk counts snapshots that never reached the disk, or (XFS, which
    does not keep a file replaced by a rename whole) is left full of zeros. The run reads as
    at its last checkpoint, and resumes from it to the same run."""
    save = RunWriter.save_checkpoint
    saved = []

    def stop_at_the_fourth(writer, *args, **kwargs):
        saved.append(kwargs["step"])
        if len(saved) == 4:  # step 6: step 4's validation was committed after its checkpoint
            raise Killed
        save(writer, *args, **kwargs)

    monkeypatch.setattr(RunWriter, "save_checkpoint", stop_at_the_fourth)
    folder = tmp_path / "cut"
    with pytest.raises(Killed):
        train(tiny_ring(), folder, quiet=True)
    monkeypatch.undo()
    assert lose_what_was_not_synced(folder) > 0
    if manifest_lost:
        manifest = folder / "manifest.json"
        manifest.write_bytes(bytes(manifest.stat().st_size))
    run = Run(folder)
    assert ("manifest.json was lost" in run.manifest["message"]) == manifest_lost
    assert (run.lost or manifest_lost) and all(
        run.count(name) == n for name, n in run.manifest["checkpoint"]["counts"].items()
    )
    assert list(run.steps(schema.VAL_ACC)) == [0]  # step 4's validation was lost
    assert_readable(folder)
    resume(folder, quiet=True)
    assert_same_run(folder, straight)


def test_a_second_writer_is_refused_with_the_pid_and_a_dead_ones_lock_is_taken_over(
    straight, tmp_path, one_thread
):
    folder = tmp_path / "busy"
    ready = children.context().Event()
    trainer = children.context().Process(
        target=children.train_and_hang, args=(tiny_ring(), folder, 3, ready)
    )
    trainer.start()
    try:
        assert ready.wait(120), "the child did not reach step 3"
        before = (folder / "manifest.json").read_bytes()
        with pytest.raises(RunBusyError, match=rf"process {trainer.pid}\b.*kill {trainer.pid}"):
            train(tiny_ring(), folder, overwrite=True, quiet=True)
        with pytest.raises(RunBusyError, match=str(trainer.pid)):
            resume(folder, quiet=True)
        with pytest.raises(RunBusyError, match=str(trainer.pid)):
            RunWriter.reopen(folder)
        assert (folder / "manifest.json").read_bytes() == before
        assert Run(folder).writer_pid() == trainer.pid
    finally:
        trainer.kill()
        trainer.join()
    assert Run(folder).writer_pid() is None  # the kernel released the dead process's lock
    resume(folder, quiet=True)
    assert_same_run(folder, straight)


def test_two_ctrl_c_leave_the_run_interrupted_and_resumable(straight, tmp_path, one_thread):
    folder = tmp_path / "stopped"
    code = children.run_child(
        children.train_with_two_ctrl_c, tiny_ring(checkpoint_every=4), folder, 5
    )
    assert code == 1  # the second Ctrl-C ends the process with KeyboardInterrupt
    run = Run(folder)
    assert run.status == "interrupted"
    assert run.manifest["message"] == "stopped by the user; kept everything up to step 4"
    resume(folder, quiet=True)
    assert_same_run(folder, straight)


def test_an_actmax_recording_survives_a_resume(tmp_path, monkeypatch):
    """Stopped at step 3, act-max recorded, then resumed: the recording stays whole
    (issue 17 case 4: resume cut its frames to the training step)."""
    from engine.training.loop import Trainer

    config = preset_config("smallcnn-synth")
    config.data_settings.update(train_size=128, val_size=32)
    config.epochs, config.checkpoint_every, config.batch_size = 2, 1, 32
    config.checkpoint_seconds = 0
    config.record.snapshots, config.record.probe_size = "log:4", 2
    after_step = Trainer._after_step

    def stop_after_step_3(trainer, step, *args):
        after_step(trainer, step, *args)
        if step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_after_step", stop_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cnn", quiet=True)
    monkeypatch.undo()
    assert Run(tmp_path / "cnn").status == "interrupted"
    settings = RenderSettings(steps=16, frames=6, param="pixel")
    before = record_actmax(tmp_path / "cnn", "fc", "0,1", settings, dataset_max=False, quiet=True)
    assert before.steps[-1] == 16

    resume(tmp_path / "cnn", quiet=True)
    after = load_actmax(tmp_path / "cnn", "fc")
    np.testing.assert_array_equal(after.steps, before.steps)
    np.testing.assert_array_equal(after.frames, before.frames)
    np.testing.assert_array_equal(after.best, before.best)
    np.testing.assert_array_equal(after.dead, before.dead)
    assert Run(tmp_path / "cnn").status == "finished"


def test_a_full_disk_stops_training_with_one_message_and_resume_continues(
    straight, tmp_path, monkeypatch, one_thread
):
    """The disk fills up during training (``free_bytes`` reports no room from step 5 on):
    one message, status failed, everything before readable; resume refuses while the disk
    is full and continues once there is room again."""
    from engine.training.loop import Trainer

    real_free = store_files.free_bytes
    disk = {"full": False, "filled": False}
    monkeypatch.setattr(
        store_files, "free_bytes", lambda folder: 0 if disk["full"] else real_free(folder)
    )
    after_step = Trainer._after_step

    def fill_disk_at_step_5(trainer, step, *args):
        if step == 5 and not disk["filled"]:  # once: another writer fills the disk
            disk["full"] = disk["filled"] = True
        after_step(trainer, step, *args)

    monkeypatch.setattr(Trainer, "_after_step", fill_disk_at_step_5)
    folder = tmp_path / "full"
    with pytest.raises(DiskFullError) as stopped:
        train(tiny_ring(), folder, quiet=True)
    assert "is full" in str(stopped.value) and f"--resume {folder}" in str(stopped.value)
    run = Run(folder)
    assert run.status == "failed" and "is full" in run.manifest["message"]
    assert run.manifest["checkpoint"]["step"] == 4
    assert_readable(folder)

    with pytest.raises(DiskFullError, match="is full"):
        resume(folder, quiet=True)
    assert Run(folder).status == "failed"
    disk["full"] = False
    resume(folder, quiet=True)
    assert_same_run(folder, straight)


def test_streams_are_reserved_on_disk_and_no_room_is_one_message(tmp_path, monkeypatch):
    """Streams are memory-mapped: a write into a sparse file on a full disk kills the process
    with SIGBUS (exit 135, no message). So every stream file is allocated whole when it is
    created, and a disk without room for it says so then, leaving nothing behind."""
    reserved = {}
    allocate = os.posix_fallocate

    def spy(fd, offset, length):
        reserved[os.readlink(f"/proc/self/fd/{fd}")] = (offset, length)
        allocate(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", spy)
    streams = [
        StreamInfo("acts/conv1", "float16", (2, 3, 4), 5),
        StreamInfo("train/loss", "float32", (), 7),
    ]
    header = {"model": {"arch": "test"}, "dataset": {}, "progress": {"step": 0}}
    with RunWriter.create(tmp_path / "run", header=header, streams=streams):
        pass
    files = sorted((tmp_path / "run" / "streams").rglob("*.npy"))
    assert len(files) == 4
    for path in files:
        assert reserved[str(path.resolve())] == (0, path.stat().st_size)

    def no_room(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    def no_room_for_the_loss(fd, offset, length):  # the first stream was made and opened
        if "loss" in os.readlink(f"/proc/self/fd/{fd}"):
            no_room(fd, offset, length)
        allocate(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", no_room_for_the_loss)
    open_before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(DiskFullError, match=r"is full.*Free some space"):
        RunWriter.create(tmp_path / "new", header=header, streams=streams)
    assert not (tmp_path / "new").exists()
    assert len(os.listdir("/proc/self/fd")) == open_before  # no file of it left open
    monkeypatch.setattr(os, "posix_fallocate", no_room)
    with RunWriter.reopen(tmp_path / "run") as writer, pytest.raises(DiskFullError):
        writer.add_stream(StreamInfo("extra/a", "float32", (3,), 2))
    assert not (tmp_path / "run" / "streams" / "extra" / "a.npy").exists()
    assert "extra/a" not in Run(tmp_path / "run").streams


def test_a_checkpoint_of_another_model_is_refused_with_a_message(tmp_path, one_thread):
    train(tiny_ring(), tmp_path / "a", quiet=True)
    other = tiny_ring()
    other.model_settings["hidden"] = [4]
    train(other, tmp_path / "b", quiet=True)
    for name in ("checkpoint.pt", MODEL_FILE):
        (tmp_path / "a" / name).write_bytes((tmp_path / "b" / name).read_bytes())
    with pytest.raises(RunError, match=r"model\.pt does not match the run's model"):
        load_model(tmp_path / "a")
    manifest = (tmp_path / "a" / "manifest.json").read_text()
    (tmp_path / "a" / "manifest.json").write_text(manifest.replace('"finished"', '"failed"'))
    with pytest.raises(RunError, match=r"checkpoint\.pt does not belong to this run"):
        resume(tmp_path / "a", quiet=True)


@pytest.mark.parametrize("module", ["engine.cli", "engine.cli.train"])
def test_ctrl_c_while_importing_ends_without_a_traceback(module):
    hook = (
        "import runpy, sys\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "sys.argv = ['engine', 'info']\n"
        "runpy.run_module('engine', run_name='__main__', alter_sys=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hook], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 130
    assert "Traceback" not in done.stdout + done.stderr

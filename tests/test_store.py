"""The run store: round trips, crash safety at the file level, and the promised errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import CHAIN_WEIGHTS, write_chain_plane_run

from engine.errors import RunError
from engine.store import Graph, LayerInfo, Run, RunWriter, StreamInfo, is_run, schema


def make_run(folder, capacity=5, budget=1 << 30):
    streams = [
        StreamInfo("train/loss", "float32", (), capacity, cadence="every:1"),
        StreamInfo("acts/conv1", "float16", (2, 3, 4), capacity, cadence="log:5"),
    ]
    header = {"model": {"arch": "test"}, "dataset": {"name": "none"}, "progress": {"step": 0}}
    return RunWriter.create(folder, header=header, streams=streams, budget_bytes=budget)


def test_round_trip_reads_only_committed_snapshots(tmp_path):
    writer = make_run(tmp_path / "run")
    acts = np.random.default_rng(0).normal(size=(3, 2, 3, 4)).astype(np.float16)
    for step in range(3):
        writer.write("acts/conv1", step * 10, acts[step])
        writer.write("train/loss", step * 10, np.float32(1.0 / (step + 1)))
    writer.commit(step=20)
    writer.write("acts/conv1", 30, acts[0])  # written, never committed

    run = Run(tmp_path / "run")
    assert run.count("acts/conv1") == 3
    np.testing.assert_array_equal(run.read("acts/conv1"), acts)
    np.testing.assert_array_equal(run.steps("acts/conv1"), [0, 10, 20])
    np.testing.assert_allclose(run.read("train/loss", -1), 1 / 3)
    assert run.index_at("acts/conv1", 15) == 1
    assert run.manifest["progress"]["step"] == 20


def test_rewind_forgets_later_snapshots(tmp_path):
    writer = make_run(tmp_path / "run")
    for step in (0, 5, 9, 12):
        writer.write("train/loss", step, np.float32(step))
    writer.commit()
    writer.rewind(9, streams=["train/loss"])
    writer.close()
    assert list(Run(tmp_path / "run").steps("train/loss")) == [0, 5, 9]
    reopened = RunWriter.reopen(tmp_path / "run")
    reopened.write("train/loss", 10, np.float32(10))
    reopened.commit()
    assert list(Run(tmp_path / "run").read("train/loss")) == [0, 5, 9, 10]


def test_budget_refusal_names_streams_and_writes_nothing(tmp_path):
    with pytest.raises(RunError) as info:
        make_run(tmp_path / "run", capacity=1000, budget=1000)
    message = str(info.value)
    assert "acts/conv1" in message and "--snapshots" in message and "budget" in message
    assert not (tmp_path / "run").exists()


def test_existing_run_is_not_overwritten_silently(tmp_path):
    make_run(tmp_path / "run")
    with pytest.raises(RunError, match="--resume"):
        make_run(tmp_path / "run")


def test_missing_run_and_missing_stream_messages(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        Run(tmp_path / "nothing")
    make_run(tmp_path / "run").commit()
    with pytest.raises(RunError, match=r"no stream 'weights/fc'.*acts/conv1"):
        Run(tmp_path / "run").read("weights/fc")


def test_corrupt_manifest_is_named(tmp_path):
    make_run(tmp_path / "run")
    manifest = tmp_path / "run" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(RunError, match=r"manifest\.json is corrupt"):
        Run(tmp_path / "run")


def test_foreign_manifest_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(RunError, match="not an nnreel run manifest"):
        Run(tmp_path / "run")


def test_truncated_stream_is_named(tmp_path):
    writer = make_run(tmp_path / "run")
    writer.write("acts/conv1", 0, np.ones((2, 3, 4), np.float16))
    writer.commit()
    path = tmp_path / "run" / "streams" / "acts" / "conv1.npy"
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(RunError, match=r"conv1\.npy is truncated"):
        Run(tmp_path / "run")


def test_foreign_stream_file_is_named(tmp_path):
    writer = make_run(tmp_path / "run")
    writer.commit()
    (tmp_path / "run" / "streams" / "train" / "loss.npy").write_bytes(b"PK\x03\x04 zip file")
    with pytest.raises(RunError, match=r"loss\.npy is not a \.npy file"):
        Run(tmp_path / "run")


def test_pickled_stream_is_never_loaded(tmp_path):
    writer = make_run(tmp_path / "run")
    writer.commit()
    path = tmp_path / "run" / "streams" / "train" / "loss.npy"
    np.save(path, np.array([{"evil": 1}] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(RunError):
        Run(tmp_path / "run")


def test_streams_added_later_can_be_removed_again(tmp_path):
    writer = make_run(tmp_path / "run")
    size = writer.manifest["size_bytes"]
    writer.add_stream(StreamInfo("extra/a", "float32", (3,), 2))
    writer.add_stream(StreamInfo("extra/b", "uint8", (4,), 1))
    writer.write("extra/a", 0, np.arange(3, dtype=np.float32))
    writer.commit()
    assert Run(tmp_path / "run").read("extra/a", 0).tolist() == [0, 1, 2]
    assert writer.manifest["size_bytes"] == size + 2 * 3 * 4 + 4

    assert sorted(writer.remove_streams("extra")) == ["extra/a", "extra/b"]
    run = Run(tmp_path / "run")
    assert "extra/a" not in run.streams and "acts/conv1" in run.streams
    assert not (tmp_path / "run" / "streams" / "extra" / "a.npy").exists()
    assert writer.manifest["size_bytes"] == size


def test_a_growable_stream_doubles_and_stays_readable_at_every_moment(tmp_path):
    """A loop of unknown length: the stream grows past its first capacity; a reader that
    opens the run between the file swap and the next commit still reads it."""
    info = StreamInfo("train/loss", "float32", (), 4, cadence="every:1", meta={"growable": True})
    header = {"model": {"arch": "test"}, "dataset": {"name": "none"}, "progress": {"step": 0}}
    writer = RunWriter.create(tmp_path / "run", header=header, streams=[info])
    for step in range(1, 4):
        writer.write("train/loss", step, np.float32(step))
    writer.commit()
    writer.write_many("train/loss", np.arange(4, 10), np.arange(4, 10, dtype=np.float32))
    between = Run(tmp_path / "run")  # files grown, manifest not yet committed
    assert list(between.read("train/loss")) == [1, 2, 3]
    writer.commit()
    run = Run(tmp_path / "run")
    assert run.stream("train/loss").capacity >= 9
    np.testing.assert_array_equal(run.read("train/loss"), np.arange(1, 10))
    np.testing.assert_array_equal(run.steps("train/loss"), np.arange(1, 10))


def test_a_stream_that_is_not_growable_refuses_to_overflow(tmp_path):
    writer = make_run(tmp_path / "run", capacity=2)
    writer.write_many("train/loss", np.arange(2), np.zeros(2, np.float32))
    with pytest.raises(RunError, match="is full"):
        writer.write("train/loss", 2, np.float32(0))


def test_the_graph_of_a_schema_1_run_is_a_chain_without_skips():
    layers = [
        LayerInfo("conv1", "conv", [4, 8, 8], 10, 100),
        LayerInfo("pool1", "pool", [4, 4, 4], 0, 0),
        LayerInfo("fc", "logits", [10], 650, 650),
    ]
    graph = Graph.from_layers(layers)
    assert [(e.source, e.target) for e in graph.edges] == [
        ("input", "conv1"),
        ("conv1", "pool1"),
        ("pool1", "fc"),
    ]
    assert graph.skips == []


def test_is_run_tells_a_run_from_any_other_folder(tmp_path):
    make_run(tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"format": "something else"}')
    assert is_run(tmp_path / "run")
    assert not is_run(tmp_path / "other") and not is_run(tmp_path / "missing")


def test_a_full_disk_stops_a_growing_stream_with_a_message_and_keeps_what_was_written(
    tmp_path, monkeypatch
):
    """Growth reserves its new files like creation does: no room → one message, the stream as
    it was, and the run still readable (a kill then loses nothing committed)."""
    import errno
    import os

    from engine.errors import DiskFullError

    info = StreamInfo("train/loss", "float32", (), 4, cadence="every:1", meta={"growable": True})
    header = {"model": {"arch": "test"}, "dataset": {"name": "none"}, "progress": {"step": 0}}
    with RunWriter.create(tmp_path / "run", header=header, streams=[info]) as writer:
        writer.write_many("train/loss", np.arange(1, 5), np.arange(1, 5, dtype=np.float32))
        writer.commit()

        def no_room(fd, offset, length):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "posix_fallocate", no_room)
        with pytest.raises(DiskFullError, match=r"stream 'train/loss'.*Free some space"):
            writer.write("train/loss", 5, np.float32(5))
        monkeypatch.undo()
        assert not list((tmp_path / "run" / "streams" / "train").glob(".*tmp"))
        writer.write("train/loss", 5, np.float32(5))  # room again: it grows and goes on
        writer.commit()
    np.testing.assert_array_equal(Run(tmp_path / "run").read("train/loss"), np.arange(1, 6))


def test_a_plain_mlps_planes_are_computed_from_its_recorded_parameters(tmp_path, capsys):
    """A chain of linear layers and ReLUs records its weights at each snapshot; every plane
    stream reads back as those weights compute on the mesh, here by hand: the hidden units are
    relu(x), relu(y) and relu(x + y - 1), and the second snapshot's weights are doubled."""
    run = Run(write_chain_plane_run(tmp_path / "run"))
    x = np.tile(np.float32([-1, 0, 1]), (3, 1))
    y = x.T[::-1]  # row 0 at the top of the plane
    pre = np.stack([x, y, x + y - 1])
    np.testing.assert_array_equal(run.read(schema.plane_pre("hidden")), [pre, 2 * pre])
    hidden = np.maximum(pre, 0)
    np.testing.assert_array_equal(run.read(schema.plane("hidden"), 0), hidden)
    logit = hidden[0] + hidden[1] - hidden[2] + 0.5
    np.testing.assert_array_equal(run.read(schema.plane("output"))[:, 0], [logit, 4 * logit - 1])
    ring = 1 / (1 + np.exp(-(4 * logit - 1)))
    np.testing.assert_allclose(run.read(schema.PLANE_PROB, -1), [1 - ring, ring], atol=1e-6)
    np.testing.assert_array_equal(run.read(schema.PLANE_CLASS, -1), ring > 0.5)
    val = 1 / (1 + np.exp(-np.float32([0.5, 1.5, 1.0])))  # at (0, 0), (1, 1), (-1, 0.5)
    np.testing.assert_allclose(run.read(schema.PLANE_VAL_PROB, 0)[:, 1], val, atol=1e-6)
    np.testing.assert_array_equal(run.steps(schema.PLANE_PROB), [0, 10])
    assert run.meta(schema.PLANE_PROB)["extent"] == [-1.0, 1.0, -1.0, 1.0]
    assert run.stream(schema.plane("hidden")).shape == (3, 3, 3)
    assert not run.has(schema.plane_pre("output"))  # the logits have no activation
    weight, offset = CHAIN_WEIGHTS[0]  # the weights are the parameters, not stored twice
    np.testing.assert_array_equal(run.read(schema.weights("hidden")), [weight, 2 * weight])
    np.testing.assert_array_equal(run.read(schema.bias("hidden"), -1), 2 * offset)
    np.testing.assert_array_equal(run.steps(schema.weights("output")), [0, 10])
    assert not any(name.startswith(("plane/", "weights/")) for name in run.streams)
    assert not (run.folder / "streams" / "plane").exists()
    from engine.cli import main as cli

    assert cli(["info", str(run.folder)]) == 0
    shown = capsys.readouterr().err
    assert "plane/hidden.pre" in shown and shown.count("params/hidden.bias") == 2  # and its alias


def test_a_post_relu_plane_is_read_as_relu_of_its_stored_pre_activation(tmp_path):
    """A plane layer ending in a ReLU stores only its pre-activation (half the bytes); the
    post-activation reads back as exactly ReLU of it. A run that stored both (an older one, or
    another activation) reads what it stored, and a name that is neither stays unknown."""
    pre = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype(np.float16)
    derived = StreamInfo("plane/h.pre", "float16", (3, 4, 4), 2, meta={"relu_of": "plane/h"})
    stored = [
        StreamInfo("plane/g.pre", "float16", (3, 4, 4), 2),
        StreamInfo("plane/g", "float16", (3, 4, 4), 2),
    ]
    header = {"model": {"arch": "test"}, "dataset": {"name": "none"}, "progress": {"step": 0}}
    writer = RunWriter.create(tmp_path / "run", header=header, streams=[derived, *stored])
    for step in range(2):
        for name in ("plane/h.pre", "plane/g.pre"):
            writer.write(name, step * 5, pre[step])
        writer.write("plane/g", step * 5, np.tanh(pre[step]))
    writer.commit()
    writer.close()
    run = Run(tmp_path / "run")
    assert run.has("plane/h") and "plane/h" not in run.streams
    np.testing.assert_array_equal(run.read("plane/h"), np.maximum(pre, 0))
    np.testing.assert_array_equal(run.read("plane/h", -1), np.maximum(pre[-1], 0))
    np.testing.assert_array_equal(run.steps("plane/h"), [0, 5])
    np.testing.assert_array_equal(run.read("plane/h.pre"), pre)  # the stored values, untouched
    np.testing.assert_array_equal(run.read("plane/g"), np.tanh(pre))
    assert not run.has("plane/x")
    with pytest.raises(RunError, match="no stream 'plane/x'"):
        run.read("plane/x")


def test_a_durable_commit_syncs_every_stream_written_and_no_failure_is_lost(tmp_path, monkeypatch):
    """A checkpoint's streams are synced side by side (one journal commit, not one each);
    a stream that cannot be synced stops the commit with one message, the manifest as it
    was, and the next durable commit syncs it again."""
    import errno
    import os

    from engine.errors import DiskFullError

    writer = make_run(tmp_path / "run")
    writer.write("train/loss", 0, np.float32(1))
    writer.write("acts/conv1", 0, np.ones((2, 3, 4), np.float16))
    synced, real_fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))
    writer.commit(durable=True, step=0)
    streams = sorted(os.path.basename(path) for path in synced if "/streams/" in path)
    assert streams == ["conv1.npy", "conv1.steps.npy", "loss.npy", "loss.steps.npy"]

    writer.write("train/loss", 1, np.float32(2))
    writer.write("acts/conv1", 1, np.ones((2, 3, 4), np.float16))

    def full_for_acts(fd):
        if "conv1" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_for_acts)
    with pytest.raises(DiskFullError, match="the streams"):
        writer.commit(durable=True, step=1)
    assert Run(tmp_path / "run").count("acts/conv1") == 1  # the manifest as it was
    synced.clear()
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))
    writer.commit(durable=True, step=1)
    assert any(path.endswith("conv1.npy") for path in synced)
    assert Run(tmp_path / "run").count("acts/conv1") == 2


def test_new_streams_reach_the_disk_before_a_manifest_counts_their_snapshots(tmp_path, monkeypatch):
    """Creating a run syncs its manifest alone (it counts nothing); the first commit, durable
    or not, syncs every new stream first, so that after a power cut a counted snapshot that
    never arrived reads as missing (step -1, as created), never as step 0. Later commits that
    are not durable sync nothing; a stream added later is synced like a new run's."""
    import os

    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))

    def streams_synced() -> list[str]:
        found = sorted(os.path.basename(path) for path in synced if "/streams/" in path)
        synced.clear()
        return found

    writer = make_run(tmp_path / "run")
    assert any("manifest" in path for path in synced) and streams_synced() == []
    writer.write("train/loss", 0, np.float32(1))
    writer.commit(step=0)
    assert streams_synced() == ["conv1.npy", "conv1.steps.npy", "loss.npy", "loss.steps.npy"]
    writer.write("train/loss", 1, np.float32(2))
    writer.commit(step=1)
    assert streams_synced() == []
    writer.add_stream(StreamInfo("acts/extra", "float16", (2,), 3))
    writer.commit(step=1)
    assert streams_synced() == ["extra.npy", "extra.steps.npy", "loss.npy", "loss.steps.npy"]
    writer.close()


def test_the_manifest_reads_one_field_and_one_stream_a_line(tmp_path):
    """Written by json's C encoder (fast enough to rewrite every second) and still easy to
    read and diff: each top-level field, and each stream, on a line of its own."""
    make_run(tmp_path / "run").commit(step=3)
    text = (tmp_path / "run" / "manifest.json").read_text()
    manifest = json.loads(text)
    lines = text.splitlines()
    assert manifest["progress"]["step"] == 3
    for name in manifest["streams"]:
        assert sum(line.lstrip().startswith(f'"{name}": {{"dtype"') for line in lines) == 1
    assert len(lines) == len(manifest) + len(manifest["streams"]) + 3  # braces

"""Run folders: ``RunWriter`` records into one, ``Run`` reads it (never unpickling anything)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DiskFullError, RunError, UnknownNameError
from engine.store.computed import PlaneFunction
from engine.store.files import (
    RESERVE_BYTES,
    disk_full_as_message,
    ensure_room,
    free_bytes,
    human_bytes,
    save_bytes,
    save_tensors,
)
from engine.store.lock import LOCK_FILE, WriterLock, holder
from engine.store.manifest import (
    MANIFEST,
    load_manifest,
    manifest_tensor,
    manifest_text,
    save_manifest,
)
from engine.store.schema import (
    CHECKPOINT_FILE,
    CHECKPOINT_MANIFEST,
    FORMAT,
    INIT_FILE,
    MODEL_FILE,
    PROGRAM_CONSTANTS_FILE,
    PROGRAM_FILE,
    SCHEMA_VERSION,
    STREAMS_FOLDER,
    Graph,
    LayerInfo,
    ModelInfo,
    OptimizerInfo,
    check_stream_name,
    data_x,
    relu_source,
)
from engine.store.streams import (
    StreamFiles,
    StreamInfo,
    create_arrays,
    grow_arrays,
    open_arrays,
    stream_paths,
)

DEFAULT_BUDGET_BYTES = 4 * 1024**3


def runs_root() -> Path:
    """Where named runs live: ``$NNREEL_RUNS``, else ``./runs``."""
    return Path(os.environ.get("NNREEL_RUNS", "runs")).expanduser()


def resolve_run(name_or_path: str | Path) -> Path:
    """A run given as a folder path, or as a name under ``runs_root()``."""
    path = Path(name_or_path).expanduser()
    if (path / MANIFEST).exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    return runs_root() / path


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunWriter:
    """Appends snapshots to a run's streams and commits them with an atomic manifest swap.

    Data is written into the stream files first and only then counted in the manifest, so a
    process killed at any moment leaves a run that reads up to its last committed snapshot.

    One writer per run: ``create`` and ``reopen`` take the run's lock, refusing with the PID of
    the process that holds it, and ``close`` (or leaving a ``with`` block) releases it. The
    stream files are reserved on disk when they are created, and every later write checks the
    room it needs, so a full disk stops a run with one message (``DiskFullError``).
    """

    def __init__(
        self,
        folder: Path,
        manifest: dict[str, Any],
        streams: dict[str, StreamInfo],
        lock: WriterLock,
        files: dict[str, StreamFiles] | None = None,
    ):
        """``files``: the streams' files as ``create`` made them; by default they are opened
        (and checked like a reader checks them)."""
        self.folder = folder
        self.manifest = manifest
        self.streams = streams
        self.lock = lock
        self._files: dict[str, StreamFiles] = files or {}
        durable = durable_counts(manifest)
        try:
            for name, info in streams.items():
                if name not in self._files:
                    self._files[name] = StreamFiles.open(folder, info, durable.get(name, 0))
        except BaseException:
            self._close_files()
            raise
        self._pending = {name: info.count for name, info in streams.items()}
        self._unsynced: set[str] = set()  # streams written since the last durable commit
        self._fills_unsynced = False
        """New streams' steps, -1 ("not recorded"), are not on disk yet: the next commit,
        the first that may count a snapshot of them, syncs them (else a power cut could leave
        a counted snapshot that never arrived reading as step 0, not as missing)."""

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the run for the next writer (a process that dies releases it too)."""
        self._close_files()
        self.lock.release()

    def _close_files(self) -> None:
        for files in self._files.values():
            files.close()
        self._files.clear()

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        header: dict[str, Any],
        streams: Iterable[StreamInfo],
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        overwrite: bool = False,
    ) -> RunWriter:
        """Preallocate every stream and write the first manifest.

        ``header`` carries the descriptive parts (model, dataset, hparams, layers, ...).
        Refuses before writing anything when the run would exceed ``budget_bytes`` or the disk,
        or when another process writes the run.
        """
        streams = {check_stream_name(s.name): s for s in streams}
        total = sum(s.nbytes for s in streams.values())
        check_budget(streams.values(), total, budget_bytes)
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        lock = WriterLock.acquire(folder)
        files: dict[str, StreamFiles] = {}
        try:
            if (folder / MANIFEST).exists() and not overwrite:
                raise RunError(
                    f"A run already exists at {folder}. Continue it with --resume, pick another "
                    "--run name, or pass --overwrite to replace it."
                )
            if overwrite:
                clear_run_folder(folder)
            free = free_bytes(folder)
            if total + RESERVE_BYTES > free:
                raise DiskFullError(
                    f"The run needs {human_bytes(total)} but {folder} has only "
                    f"{human_bytes(free)} free. Free some space or record less (see `train "
                    "--help`)."
                )
            with disk_full_as_message(folder, "the run's streams"):
                for name, info in streams.items():
                    files[name] = create_arrays(folder, info)
            manifest = {
                "format": FORMAT,
                "schema": SCHEMA_VERSION,
                "name": folder.name,
                "created": _now(),
                "updated": _now(),
                "status": "running",
                "message": "",
                **header,
                "size_bytes": total,
                "budget_bytes": budget_bytes,
                "streams": {name: info.to_json() for name, info in streams.items()},
                "progress": header.get("progress", {"step": 0, "epoch": 0}),
                "checkpoint": None,
            }
            writer = cls(folder, manifest, streams, lock, files)
            writer._unsynced.update(streams)
            writer._fills_unsynced = True  # synced by the first commit: see ``_commit``
            with disk_full_as_message(folder, MANIFEST):  # it counts nothing: no stream synced
                save_manifest(folder, manifest_text(manifest), durable=True)
        except BaseException:
            for stream in files.values():
                stream.close()
            lock.release()
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return writer

    @classmethod
    def reopen(cls, folder: Path) -> RunWriter:
        """Open an existing run to continue writing (see ``rewind`` before resuming)."""
        load_manifest(folder)  # a folder that is no run is named as such before any locking
        lock = WriterLock.acquire(folder)
        try:
            manifest = load_manifest(folder)  # as the last writer left it
            streams = {
                name: StreamInfo.from_json(name, entry)
                for name, entry in manifest["streams"].items()
            }
            return cls(folder, manifest, streams, lock)
        except BaseException:
            lock.release()
            raise

    def add_stream(self, info: StreamInfo) -> None:
        """A stream created after the run began (an analysis added later, say)."""
        check_stream_name(info.name)
        if info.name in self.streams:
            raise RunError(f"Stream {info.name!r} already exists in {self.folder}.")
        ensure_room(self.folder, info.nbytes, f"stream {info.name!r}")
        with disk_full_as_message(self.folder, f"stream {info.name!r}"):
            self._files[info.name] = create_arrays(self.folder, info)
        self.streams[info.name] = info
        self._pending[info.name] = 0
        self._unsynced.add(info.name)
        self._fills_unsynced = True
        self.manifest["size_bytes"] = self.manifest.get("size_bytes", 0) + info.nbytes

    def remove_streams(self, prefix: str) -> list[str]:
        """Forget every stream named ``prefix/…`` (an analysis about to be recorded again).

        The manifest stops listing them in one atomic swap before their files are deleted, so
        a reader never meets a listed stream without its files.
        """
        names = [name for name in self.streams if name.startswith(f"{prefix}/")]
        if not names:
            return []
        removed = [self.streams.pop(name) for name in names]
        for name in names:
            self._files.pop(name).close()
            del self._pending[name]
            self._unsynced.discard(name)
        self.manifest["size_bytes"] = self.manifest.get("size_bytes", 0) - sum(
            info.nbytes for info in removed
        )
        self.commit(durable=True)
        for info in removed:
            for path in stream_paths(self.folder, info):
                path.unlink(missing_ok=True)
        return names

    def write(self, name: str, step: int, value: np.ndarray) -> None:
        self.write_many(name, np.asarray([step]), np.asarray(value)[None])

    def write_many(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        """Append several snapshots at once (one copy, not one per snapshot). A stream created
        ``growable`` (a loop of unknown length) doubles its capacity when full; any other
        refuses."""
        info = self.streams[name]
        start = self._pending[name]
        stop = start + len(steps)
        if stop > info.capacity:
            if not info.meta.get("growable"):
                raise RunError(
                    f"Stream {name!r} is full ({info.capacity} snapshots); the recording plan "
                    "and the training loop disagree."
                )
            self.grow(name, max(stop, 2 * info.capacity))
        with disk_full_as_message(self.folder, f"stream {name!r}"):
            self._files[name].write(start, steps, values)
        self._pending[name] = stop
        self._unsynced.add(name)

    def grow(self, name: str, capacity: int) -> None:
        """Give stream ``name`` room for ``capacity`` snapshots, within the run's budget and
        the disk's room (the new files are preallocated like the first ones).

        The files are copied into larger ones that replace them; the manifest learns the new
        capacity at the next commit. Readers accept files larger than the manifest says, so a
        kill at any point leaves a readable run.
        """
        info = self.streams[name]
        if capacity <= info.capacity:
            return
        extra = (capacity - info.capacity) * info.snapshot_bytes
        total = self.manifest.get("size_bytes", 0) + extra
        budget = self.manifest.get("budget_bytes", DEFAULT_BUDGET_BYTES)
        if total > budget:
            self.commit()
            raise RunError(
                f"Stream {name!r} would grow the run to {human_bytes(total)}, above its budget "
                f"of {human_bytes(budget)}. Everything recorded so far is kept. Record less "
                "often (a sparser cadence) or fewer layers, or raise the budget."
            )
        ensure_room(self.folder, capacity * (info.snapshot_bytes + 8), f"stream {name!r}")
        files = self._files.pop(name)
        files.sync()
        files.close()
        self._unsynced.discard(name)
        try:
            with disk_full_as_message(self.folder, f"stream {name!r}"):
                grow_arrays(self.folder, info, capacity)
            info.capacity = capacity
        finally:  # the grown files replaced those held (after a failure, maybe one of them)
            self._files[name] = StreamFiles.open(self.folder, info)
        self.manifest["size_bytes"] = total

    def pending_count(self, name: str) -> int:
        return self._pending[name]

    def last_step(self, name: str) -> int | None:
        """The step of the last snapshot of ``name`` written so far (None before the first)."""
        count = self._pending[name]
        return int(self._files[name].steps(count)[-1]) if count else None

    def commit(self, durable: bool = False, **progress: Any) -> None:
        """Make everything written so far visible to readers.

        Memory-mapped writes live in the page cache, so a killed process loses nothing that
        was written; ``durable`` also syncs them to disk to survive a power cut (checkpoints).
        """
        self._commit(durable, progress, keep_reserve=True)

    def _commit(self, durable: bool, progress: dict[str, Any], keep_reserve: bool) -> None:
        if durable or self._fills_unsynced:
            with disk_full_as_message(self.folder, "the streams"):
                sync_together([self._files[name] for name in sorted(self._unsynced)])
            self._unsynced.clear()
            self._fills_unsynced = False
        for name, info in self.streams.items():
            info.count = self._pending[name]
        self.manifest["streams"] = {name: info.to_json() for name, info in self.streams.items()}
        self.manifest["progress"].update(progress)
        self.manifest["updated"] = _now()
        text = manifest_text(self.manifest)
        if keep_reserve:
            ensure_room(self.folder, len(text), MANIFEST)
        with disk_full_as_message(self.folder, MANIFEST):
            save_manifest(self.folder, text, durable)

    def save_tensors(self, name: str, obj: Any) -> None:
        """Save ``obj`` as the file ``name`` of the run (see ``files.save_tensors``)."""
        save_tensors(self.folder, name, obj)

    def save_bytes(self, name: str, data: bytes) -> None:
        """Save ``data`` as the file ``name`` of the run (see ``files.save_bytes``)."""
        save_bytes(self.folder, name, data)

    def save_checkpoint(self, state: dict[str, Any], *, step: int, epoch: int) -> None:
        """Commit every snapshot written so far, save the training ``state`` as the run's
        checkpoint, and record which snapshots of every stream it covers.

        The streams are committed (durably) before the checkpoint that resumes after them
        replaces the old one: killed in between, the run resumes from either intact. The
        checkpoint keeps the manifest that names it (``load_manifest`` reads it when the
        machine stopped and took the manifest with it).
        """
        self.commit(durable=True, step=step, epoch=epoch)
        counts = {name: info.count for name, info in self.streams.items()}
        entry = {"file": CHECKPOINT_FILE, "step": step, "counts": counts}
        text = manifest_text({**self.manifest, "checkpoint": entry})
        self.save_tensors(CHECKPOINT_FILE, {**state, CHECKPOINT_MANIFEST: manifest_tensor(text)})
        self.manifest["checkpoint"] = entry
        self.commit(step=step, epoch=epoch)

    def rewind(self, step: int, streams: Iterable[str]) -> None:
        """Forget the snapshots that ``streams`` took after ``step``: a resume from the
        checkpoint at ``step`` records them again. Only the streams named are touched (those
        the resuming writer writes); act-max recordings and other streams written outside
        training stay whole, whatever their step axis means."""
        covered = (self.manifest.get("checkpoint") or {}).get("counts", {})
        for name in streams:
            if name not in self.streams:
                raise RunError(
                    f"Run {self.folder} lacks the stream {name!r} its training records; the "
                    "manifest was edited. Re-train the run."
                )
            info = self.streams[name]
            steps = self._files[name].steps(info.count)
            info.count = int(np.searchsorted(steps, step, side="right"))
            if info.count < covered.get(name, 0):
                raise RunError(
                    f"Stream {name!r} of {self.folder} holds {info.count} snapshots up to step "
                    f"{step}, fewer than the {covered[name]} its last checkpoint covered: "
                    f"{CHECKPOINT_FILE} is older than the run, or the stream was damaged. "
                    "Re-train the run."
                )
            self._pending[name] = info.count
        self.commit(durable=True, step=step)

    def set_status(self, status: str, message: str = "", **fields: Any) -> None:
        """Record the run's status; written even into the room kept for it on a full disk."""
        self.manifest["status"] = status
        self.manifest["message"] = message
        self.manifest.update(fields)
        self._commit(True, {}, keep_reserve=False)

    def fail(self, message: str) -> None:
        """Mark the run failed with ``message``. On a disk too full even for that, the status
        stays as it was (``info`` then says that no process writes the run)."""
        with contextlib.suppress(DiskFullError):
            self.set_status("failed", message)


SYNC_THREADS = 8


def sync_together(files: list[StreamFiles]) -> None:
    """Put several streams on disk at once: synced side by side, the filesystem can commit
    them in one journal transaction instead of one each (about half the time on this ext4,
    far less on a disk whose cache flushes are slow)."""
    if len(files) <= 1:
        for stream in files:
            stream.sync()
        return
    with ThreadPoolExecutor(min(SYNC_THREADS, len(files)), "nnreel-sync") as pool:
        list(pool.map(StreamFiles.sync, files))


RUN_ENTRIES = frozenset(
    {
        MANIFEST,
        CHECKPOINT_FILE,
        MODEL_FILE,
        INIT_FILE,
        PROGRAM_FILE,
        PROGRAM_CONSTANTS_FILE,
        LOCK_FILE,
        STREAMS_FOLDER,
    }
)
"""What a run folder holds; ``--overwrite`` refuses to empty a folder holding anything else
unless a manifest says it is a run (the wrong --run must not delete someone's files)."""


def clear_run_folder(folder: Path) -> None:
    """Empty a run folder, except its lock file: the writer that holds it keeps holding it."""
    entries = list(folder.iterdir())
    foreign = sorted(
        entry.name
        for entry in entries
        if entry.name not in RUN_ENTRIES and not re.fullmatch(r"\..*\.tmp", entry.name)
    )
    if foreign and not (folder / MANIFEST).exists():
        raise RunError(
            f"{folder} is not an nnreel run (it holds {', '.join(foreign[:3])}); --overwrite "
            "replaces runs only. Pick another --run."
        )
    for entry in entries:
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def remove_run(folder: Path) -> None:
    """Empty the run at ``folder`` (to make it again), unless another process writes it."""
    lock = WriterLock.acquire(folder)
    try:
        clear_run_folder(folder)
    finally:
        lock.release()


def durable_counts(manifest: dict[str, Any]) -> dict[str, int]:
    """Each stream's count at the last checkpoint, whose snapshots were synced to disk before
    it was saved (a stream it does not name had nothing on disk for sure: 0)."""
    return dict((manifest.get("checkpoint") or {}).get("counts", {}))  # checked on loading


def check_budget(streams: Iterable[StreamInfo], total: int, budget_bytes: int) -> None:
    """Refuse a recording plan above the budget, naming the biggest streams."""
    if total <= budget_bytes:
        return
    biggest = sorted(streams, key=lambda s: s.nbytes, reverse=True)[:5]
    lines = "\n".join(
        f"  {s.name}: {human_bytes(s.nbytes)} ({s.capacity} snapshots)" for s in biggest
    )
    raise RunError(
        f"This run would record {human_bytes(total)}, above the budget of "
        f"{human_bytes(budget_bytes)}. Largest streams:\n{lines}\n"
        "Record fewer snapshots (--snapshots), fewer layers (--record-layers), fewer probe "
        "images (--probe-size), or raise the budget with --budget-gb."
    )


class Run:
    """A recorded run, opened read-only. Streams are memory-mapped: reading step k of one layer
    touches only that slice of one file."""

    def __init__(self, folder: str | Path):
        self.folder = resolve_run(folder)
        self.manifest = load_manifest(self.folder)
        self.streams = {
            name: StreamInfo.from_json(name, entry)
            for name, entry in self.manifest["streams"].items()
        }
        # Mapping every stream up front checks each file against the manifest (cheap: headers
        # only), so a damaged run fails here with the file named, not mid-render.
        counted = {name: info.count for name, info in self.streams.items()}
        durable = durable_counts(self.manifest)
        self._arrays = {
            name: open_arrays(self.folder, info, durable.get(name, 0))
            for name, info in self.streams.items()
        }
        self.lost = {
            n: counted[n] - i.count for n, i in self.streams.items() if i.count < counted[n]
        }
        """Snapshots counted by the manifest that never reached the disk, by stream: the
        machine stopped after a commit, before the next checkpoint (``readable_count``)."""
        self._open_computed()

    def _open_computed(self) -> None:
        """The streams the run computes instead of storing them (``engine.store.computed``),
        checked against the streams they are computed from."""
        try:
            self.plane_function = PlaneFunction.of(self.manifest, self.streams)
        except RunError as exc:
            raise RunError(f"{self.folder / MANIFEST}: {exc} Re-train the run.") from None
        val = self.streams.get(data_x("val"))
        points = val is not None and val.count > 0 and val.shape[1:] == (2,)
        self._val_points = val.shape[0] if points else 0
        self.computed: dict[str, StreamInfo] = {}
        """Streams read by computing them, not stored."""
        self.aliases: dict[str, str] = {}
        """Computed streams that are another stream under a second name, and that stream."""
        if self.plane_function:
            self.computed = self.plane_function.streams(self.streams, self._val_points)
            self.aliases = self.plane_function.aliases()

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r}, status={self.status!r})"

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def model(self) -> dict[str, Any]:
        return self.manifest["model"]

    @property
    def dataset(self) -> dict[str, Any]:
        return self.manifest["dataset"]

    @property
    def hparams(self) -> dict[str, Any]:
        return self.manifest.get("hparams", {})

    @property
    def classes(self) -> list[str]:
        return list(self.dataset.get("classes", []))

    @property
    def layers(self) -> list[LayerInfo]:
        return [LayerInfo.from_json(entry) for entry in self.manifest.get("layers", [])]

    @property
    def graph(self) -> Graph:
        """The model as a graph: the layer table's nodes and the edges between them, skip
        connections marked (a run of schema 1 reads as a chain)."""
        return Graph.from_layers(self.layers)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo.from_json(self.model)

    @property
    def optimizer(self) -> OptimizerInfo | None:
        """The optimiser and learning rate, from the manifest (or a schema-1 run's hparams)."""
        entry = self.manifest.get("optimizer")
        if entry:
            return OptimizerInfo(
                str(entry["name"]), entry.get("lr"), dict(entry.get("settings", {}))
            )
        if "optimizer" in self.hparams:
            return OptimizerInfo(str(self.hparams["optimizer"]), self.hparams.get("lr"))
        return None

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers:
            if info.name == name:
                return info
        raise UnknownNameError("layer", name, [info.name for info in self.layers])

    def has(self, name: str) -> bool:
        if name in self.computed:
            return self.computed[name].count > 0
        stored = self._stored(name)
        return stored in self.streams and self.streams[stored].count > 0

    def _stored(self, name: str) -> str:
        """The stream holding ``name``: itself, or the pre-activation stream of a post-ReLU
        plane that was derived instead of stored (``schema.relu_source``)."""
        return relu_source(name, self.streams) or name

    def stream(self, name: str) -> StreamInfo:
        if name in self.computed:
            return self.computed[name]
        stored = self._stored(name)
        if stored not in self.streams:
            present = ", ".join(sorted(self.streams)) or "none"
            raise RunError(
                f"Run {self.name!r} has no stream {name!r}; it was not recorded. "
                f"Streams present: {present}. Re-train with the recording enabled "
                "(see `python -m engine train --help`)."
            )
        return self.streams[stored]

    def _open(self, name: str) -> tuple[np.ndarray, ...]:
        return self._arrays[self.stream(name).name]

    def count(self, name: str) -> int:
        return self.stream(name).count

    def steps(self, name: str) -> np.ndarray:
        """The training step of every committed snapshot of ``name``."""
        if name in self.computed:
            source = self.aliases.get(name, self.plane_function.sources()[0])
            return self.steps(source)[: self.count(name)]
        return np.array(self._open(name)[1][: self.count(name)])

    def read(self, name: str, index: int | slice | np.ndarray = slice(None)) -> np.ndarray:
        """Committed snapshots of ``name`` (negative indices count from the last committed)."""
        count = self.count(name)
        if count == 0:
            raise RunError(f"Stream {name!r} of run {self.name!r} has no snapshot yet.")
        if isinstance(index, (int, np.integer)) and not -count <= index < count:
            raise RunError(f"Stream {name!r} has {count} snapshots; index {index} is out of range.")
        if name in self.aliases:
            return self.read(self.aliases[name], np.arange(count)[index])
        if name in self.computed:
            return self._compute(name, index)
        values = np.array(self._open(name)[0][:count][index])
        return values if self._stored(name) == name else np.maximum(values, 0, out=values)

    def _compute(self, name: str, index: int | slice | np.ndarray) -> np.ndarray:
        """Snapshots of a computed plane stream, from the parameters recorded with them."""
        function, info = self.plane_function, self.computed[name]
        chosen = np.arange(info.count)[index]
        sources = [self.read(source, np.atleast_1d(chosen)) for source in function.sources()]
        points = self.read(data_x("val"), 0) if self._val_points else np.zeros((0, 2))
        values = np.empty((len(sources[0]), *info.shape), info.dtype)
        for i in range(len(values)):
            values[i] = function.snapshot(name, function.pair([s[i] for s in sources]), points)
        return values[0] if np.ndim(chosen) == 0 else values

    def index_at(self, name: str, step: int) -> int:
        """Index of the last snapshot of ``name`` taken at or before ``step`` (0 if none)."""
        return max(0, int(np.searchsorted(self.steps(name), step, side="right")) - 1)

    def meta(self, name: str) -> dict[str, Any]:
        return self.stream(name).meta

    def writer_pid(self) -> int | None:
        """The PID of the process writing this run now (-1 when it cannot be read), or None.
        A run whose status is 'running' with no writer lost its process (a kill, a crash)."""
        return holder(self.folder)

    def disk_usage(self) -> dict[str, int]:
        """Bytes on disk per stream (allocated blocks)."""
        return {
            name: sum(path.stat().st_blocks * 512 for path in stream_paths(self.folder, info))
            for name, info in self.streams.items()
        }


def layer_table_json(layers: Iterable[LayerInfo]) -> list[dict[str, Any]]:
    return [layer.to_json() for layer in layers]

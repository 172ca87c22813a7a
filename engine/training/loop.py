"""The training loop: seeded, resumable, interruptible, recording as it goes."""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from engine.console import console, progress_bar
from engine.data import Data, load_data
from engine.errors import NnreelError, RunError
from engine.models import build_model
from engine.models.net import LayeredNet
from engine.recording.datasource import describe_data
from engine.recording.recorder import Recorder
from engine.recording.scalars import predictions
from engine.store import CHECKPOINT_FILE, MODEL_FILE, Run, RunWriter, resolve_run, schema
from engine.summary import layer_table
from engine.training import checkpoint
from engine.training.config import TrainConfig
from engine.training.distributed import join_cluster, leave_cluster, pick_device

OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("constant", "cosine")
EVAL_BATCH = 512
SMALL_MODEL_MACS = 5e6


@dataclass
class TrainResult:
    folder: Path
    status: str
    step: int
    val_acc: float | None


def train(
    config: TrainConfig, run: str | Path, *, overwrite: bool = False, quiet: bool = False
) -> TrainResult:
    """Train a new run into ``run`` (a name under ``runs/`` or a folder)."""
    return Trainer(config, resolve_run(run), quiet=quiet).start(overwrite=overwrite)


def resume(run: str | Path, *, quiet: bool = False) -> TrainResult:
    """Continue an interrupted run from its last checkpoint, with the settings it was made with.
    A run stopped before its first checkpoint had trained nothing yet: it starts over."""
    folder = resolve_run(run)
    manifest = Run(folder).manifest
    if manifest["status"] == "finished":
        raise RunError(f"Run {folder.name!r} already finished; there is nothing to resume.")
    try:
        config = TrainConfig.from_json(manifest["hparams"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(
            f"Run {folder.name!r} does not record valid training settings ({exc}), so it "
            "cannot resume. Train it again with --overwrite."
        ) from None
    trainer = Trainer(config, folder, quiet=quiet)
    if manifest.get("checkpoint") is None:  # killed before its first checkpoint: nothing kept
        return trainer.start(overwrite=True)
    return trainer.start(resume=True)


def epoch_order(seed: int, epoch: int, size: int) -> torch.Tensor:
    """The shuffled order of epoch ``epoch``: a function of (seed, epoch) alone, so a resumed
    run sees exactly the batches the uninterrupted run would have."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(size, generator=generator)


class StopRequest:
    """Turns the first Ctrl-C into a request to stop at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self, active: bool):
        if not active:
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:  # a second Ctrl-C stops at once
                signal.signal(signal.SIGINT, previous)
                raise KeyboardInterrupt
            self.requested = True
            console.print("[yellow]Stopping after this step (Ctrl-C again to abort now)…")

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class Trainer:
    def __init__(self, config: TrainConfig, folder: Path, quiet: bool = False):
        self.config, self.folder, self.quiet = config, folder, quiet
        self._checkpointed = -math.inf  # when the last checkpoint was saved (monotonic clock)
        _validate(config)
        self.device = pick_device(config.device)
        self.cluster = join_cluster(self.device)
        if self.cluster.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.cluster.local_rank)
        torch.manual_seed(config.seed)
        self.data = self._load_data()
        self.model = self._build_model().to(self.device)
        self.net: torch.nn.Module = self.model
        if self.cluster.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.steps_per_epoch = len(self.data.y_train) // config.batch_size
        if self.steps_per_epoch == 0:
            raise NnreelError(
                f"The batch size {config.batch_size} is larger than the training set "
                f"({len(self.data.y_train)} examples). Lower --batch-size."
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.optimizer = self._optimizer()
        if config.keep_zeros:
            self._keep_zeros_at_zero()
        self.scheduler = self._scheduler()
        # Rank 0 records (with config.record None: only the manifest and the weights), through
        # the same Recorder as engine.record in a user's own loop.
        self.recorder: Recorder | None = None
        if self.cluster.main:
            self.recorder = Recorder(
                self.model,
                data=describe_data(self.data),
                optimizer=self.optimizer,
                config=config.record,
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                device=self.device,
            )
        self.layers = self.recorder.graph.layers if self.recorder else layer_table(self.model)
        self.threads = self._pick_threads()
        self.writer: RunWriter | None = None
        self.val_acc: float | None = None

    # -- setup ----------------------------------------------------------------------------
    def _load_data(self) -> Data:
        c = self.config
        return load_data(
            c.dataset,
            root=c.data_root,
            download=c.download and self.cluster.main,
            **c.data_settings,
        )

    def _build_model(self) -> LayeredNet:
        settings = dict(self.config.model_settings)
        shape = self.data.input_shape
        if self.data.kind == "image":
            settings.setdefault("in_channels", shape[0])
            settings.setdefault("image_size", shape[-1])
        else:
            settings.setdefault("in_features", shape[0])
        settings.setdefault("num_classes", self.data.num_classes)
        model = build_model(self.config.model, **settings)
        if tuple(model.input_shape) != tuple(shape):
            raise NnreelError(
                f"Model {self.config.model!r} expects inputs of shape {model.input_shape} but "
                f"dataset {self.config.dataset!r} gives {shape}. Set the dataset's image size or "
                "channels to match."
            )
        if self.config.init_weights:
            checkpoint.load_weights(Path(self.config.init_weights), model)
        return model

    def _keep_zeros_at_zero(self) -> None:
        """For fine-tuning a pruned network: weights that start at exactly zero stay there
        (the mask is re-applied after every optimizer step), so the sparsity is kept."""
        masks = [
            (p, p.detach() != 0)
            for name, p in self.model.named_parameters()
            if name.endswith("weight")
        ]

        def reapply(optimizer, args, kwargs) -> None:
            with torch.no_grad():
                for parameter, mask in masks:
                    parameter.mul_(mask)

        self.optimizer.register_step_post_hook(reapply)

    def _pick_threads(self) -> int:
        """One CPU thread for tiny models: splitting a 127-parameter MLP's matrix products
        across threads costs more than it saves, and much more on a busy machine."""
        macs_per_batch = sum(layer.macs for layer in self.layers) * self.config.batch_size
        if self.device.type == "cpu" and macs_per_batch < SMALL_MODEL_MACS:
            return 1
        return torch.get_num_threads()

    def _optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                self.model.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        return torch.optim.Adam(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)

    def _scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        if self.config.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, self.total_steps)
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)

    def _header(self) -> dict:
        """The trainer's part of the manifest, over the recorder's (model graph, data,
        optimiser): its whole configuration, the run's length and where it comes from."""
        return {
            "hparams": self.config.to_json(),
            "progress": {
                "step": 0,
                "epoch": 0,
                "epochs": self.config.epochs,
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
            },
            "parent": self.config.parent,
        }

    # -- running --------------------------------------------------------------------------
    def start(self, overwrite: bool = False, resume: bool = False) -> TrainResult:
        """Train from step 0 into a new run (``overwrite`` replaces one), or with ``resume``
        continue the run from its checkpoint. The run is locked against other writers until
        this returns; an error or a Ctrl-C anywhere leaves its status saying so."""
        previous = torch.get_num_threads()
        try:
            step = self._restore() if resume else self._begin(overwrite)
            self.cluster.barrier()
            torch.set_num_threads(self.threads)
            return self._run(step)
        except KeyboardInterrupt:  # a second Ctrl-C, or one before training began
            self._finish_interrupted(None)
            raise
        except NnreelError as exc:
            if self.cluster.main and self.writer is not None:
                self.writer.fail(str(exc))
            raise
        finally:
            torch.set_num_threads(previous)
            leave_cluster(self.cluster)
            if self.writer is not None:
                self.writer.close()

    def _begin(self, overwrite: bool) -> int:
        """Create the run and record step 0: the untrained network, validated."""
        if self.cluster.main:
            self.recorder.create(
                self.folder,
                header=self._header(),
                budget_bytes=int(self.config.budget_gb * 1024**3),
                overwrite=overwrite,
            )
            self.writer = self.recorder.writer
        self.cluster.barrier()
        if self.cluster.main:
            self.recorder.begin()
            self._validate(0, epoch=0)
            self._checkpoint(0)
        return 0

    def _restore(self) -> int:
        """Reopen the run and put the training state of its checkpoint back."""
        if self.cluster.main:
            self.writer = RunWriter.reopen(self.folder)
        path = self.folder / CHECKPOINT_FILE
        state = checkpoint.load(path)
        step = checkpoint.restore(state, path, self.model, self.optimizer, self.scheduler)
        if self.cluster.main:
            self.recorder.attach(self.writer, step, epoch=step // self.steps_per_epoch)
            # Only the streams training records go back to the checkpoint: act-max
            # recordings and other streams written since stay whole.
            self.writer.rewind(step, streams=self._recorded_streams())
            self.writer.set_status("running")
            self._say(f"Resuming {self.folder.name!r} from step {step:,} of {self.total_steps:,}.")
        return step

    def _recorded_streams(self) -> list[str]:
        return [info.name for info in self.recorder.plan.streams] if self.recorder else []

    def _run(self, step: int) -> TrainResult:
        stop = StopRequest()
        bar = progress_bar("loss", "acc")
        bar.disable = self.quiet or not self.cluster.main
        with stop.installed(self.cluster.main and not self.cluster.distributed):
            with bar:
                task = bar.add_task(
                    "training", total=self.total_steps, completed=step, loss="-", acc="-"
                )
                step = self._epochs(step, stop, bar, task)
            if stop.requested:  # still ours: a second Ctrl-C during the stop's save aborts it
                self._finish_interrupted(step)
                return TrainResult(self.folder, "interrupted", step, self.val_acc)
        if self.cluster.main:
            if step != self._last_checkpoint():
                self._checkpoint(step)  # else the last epoch's end saved this one already
            self.writer.save_tensors(MODEL_FILE, self.model.state_dict())
            self.writer.set_status("finished")
            acc = f", validation accuracy {self.val_acc:.1%}" if self.val_acc is not None else ""
            self._say(f"Run {self.folder.name!r} finished at step {step:,}{acc}: {self.folder}")
        return TrainResult(self.folder, "finished", step, self.val_acc)

    def _epochs(self, step: int, stop: StopRequest, bar, task) -> int:
        spe, size = self.steps_per_epoch, len(self.data.y_train)
        self._validate_epoch_left_unvalidated(step)
        for epoch in range(step // spe, self.config.epochs):
            order = epoch_order(self.config.seed, epoch, size)
            bar.update(task, description=f"epoch {epoch + 1}/{self.config.epochs}")
            self.net.train()  # once an epoch: evaluating and recording put the mode back
            for batch in range(step - epoch * spe, spe):
                step = epoch * spe + batch + 1
                self._step(step, order[batch * self.config.batch_size :][: self.config.batch_size])
                self._after_step(step, epoch, bar, task)
                if stop.requested:
                    return step
            self._end_epoch(step, epoch)
        return step

    def _step(self, step: int, index: torch.Tensor) -> None:
        if self.cluster.distributed:
            index = index[self.cluster.rank :: self.cluster.world]
        x = self.data.to_float(self.data.x_train[index]).to(self.device, non_blocking=True)
        y = self.data.y_train[index].to(self.device, non_blocking=True)
        logits = self.net(x)
        loss = self.model.loss(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self._last = (loss, logits, y, lr)

    def _after_step(self, step: int, epoch: int, bar, task) -> None:
        loss, logits, y, lr = self._last
        flush_every = self.config.record.flush_every if self.config.record else 25
        if self.recorder:
            self.recorder.step(loss=loss, logits=logits, targets=y, lr=lr)
        if step % flush_every == 0 and not bar.disable:
            acc = (predictions(logits.detach()) == y).float().mean()
            self._show(bar, task, (loss.item(), acc.item()))
        bar.update(task, completed=step)
        due = self.cluster.main and step % self.config.checkpoint_every == 0
        if due and self._checkpoint_due():
            self._checkpoint(step)

    def _show(self, bar, task, means: tuple[float, float] | None) -> None:
        if means is not None:
            bar.update(task, loss=f"{means[0]:.4f}", acc=f"{means[1]:.1%}")

    def _end_epoch(self, step: int, epoch: int) -> None:
        if self.cluster.main:
            self._validate(step, epoch + 1)
            if step == self._last_checkpoint():
                # The checkpoint at this step came before this validation: commit it now, so
                # a resume from there finds it (else it validates again, see below).
                self.recorder.flush(force=True, step=step, epoch=epoch + 1)
            elif self._checkpoint_due():
                self._checkpoint(step, epoch=epoch + 1)
        self.cluster.barrier()

    def _validate_epoch_left_unvalidated(self, step: int) -> None:
        """Resuming at an epoch's last step whose validation is not in the run: the checkpoint
        there was saved before the validation (``checkpoint_every`` fell on that step), and
        the process died in between. Validate now, as the uninterrupted run did: the weights
        are the checkpoint's, so the numbers are the same."""
        if not self.cluster.main or step == 0 or step % self.steps_per_epoch:
            return
        if self.config.record is not None and self.writer.last_step(schema.VAL_ACC) == step:
            return
        epoch = step // self.steps_per_epoch
        self._validate(step, epoch)
        self.writer.commit(step=step, epoch=epoch)

    def _validate(self, step: int, epoch: int) -> None:
        """Validate and record it: at step 0 (the untrained network) and after each epoch."""
        val_loss, self.val_acc = self.evaluate()
        # A loss that is not finite stops here, a diverged training loss named first.
        self.recorder.validate(loss=val_loss, acc=self.val_acc, epoch=epoch)
        when = "before training" if step == 0 else f"epoch {epoch}/{self.config.epochs}"
        self._say(f"{when}: validation loss {val_loss:.4f}, accuracy {self.val_acc:.1%}")

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Loss and accuracy on the validation split, in eval mode (dropout off, BN frozen)."""
        self.model.eval()
        total_loss, correct = 0.0, 0
        x_val, y_val = self.data.x_val, self.data.y_val
        for start in range(0, len(y_val), EVAL_BATCH):
            x = self.data.to_float(x_val[start : start + EVAL_BATCH]).to(self.device)
            y = y_val[start : start + EVAL_BATCH].to(self.device)
            logits = self.model(x)
            total_loss += float(self.model.loss(logits, y)) * len(y)
            correct += int((self.model.predict(logits) == y).sum())
        self.model.train()
        return total_loss / len(y_val), correct / len(y_val)

    def _last_checkpoint(self) -> int | None:
        """The step of the run's last checkpoint (None before the first)."""
        return (self.writer.manifest.get("checkpoint") or {}).get("step")

    def _checkpoint_due(self) -> bool:
        """Whether the last checkpoint is at least ``checkpoint_seconds`` old."""
        return time.monotonic() - self._checkpointed >= self.config.checkpoint_seconds

    def _checkpoint(self, step: int, epoch: int | None = None) -> None:
        """Flush what is recorded, then save the training state: a resume from this
        checkpoint finds every snapshot up to ``step`` on disk."""
        epoch = step // self.steps_per_epoch if epoch is None else epoch
        self.recorder.flush(step=step, epoch=epoch)
        state = checkpoint.capture(self.model, self.optimizer, self.scheduler, step, epoch)
        self.writer.save_checkpoint(state, step=step, epoch=epoch)
        self._checkpointed = time.monotonic()

    def _finish_interrupted(self, step: int | None) -> None:
        """Checkpoint at ``step`` (None: keep the last checkpoint) and mark the run
        interrupted. A second Ctrl-C during that checkpoint still marks it (through
        ``start``), resumable from the checkpoint before."""
        if not self.cluster.main or self.writer is None:
            return
        if step is not None:
            self._checkpoint(step)
        last = self._last_checkpoint()
        kept = "nothing yet" if last is None else f"everything up to step {last:,}"
        self.writer.set_status("interrupted", f"stopped by the user; kept {kept}")
        self._say(
            f"[yellow]Interrupted. Kept {kept}; continue with:\n"
            f"  python -m engine train --resume {self.folder}"
        )

    def _say(self, message: str) -> None:
        if not self.quiet and self.cluster.main:
            console.print(message)


def _validate(config: TrainConfig) -> None:
    from engine.errors import UnknownNameError

    if config.optimizer not in OPTIMIZERS:
        raise UnknownNameError("optimizer", config.optimizer, OPTIMIZERS)
    if config.lr_schedule not in LR_SCHEDULES:
        raise UnknownNameError("learning-rate schedule", config.lr_schedule, LR_SCHEDULES)
    for name in ("batch_size", "checkpoint_every"):
        if getattr(config, name) < 1:
            raise NnreelError(f"{name.replace('_', '-')} must be at least 1.")
    if not config.checkpoint_seconds >= 0:
        raise NnreelError("--checkpoint-seconds cannot be negative (0 keeps no minimum).")
    if config.epochs < 0:
        raise NnreelError("--epochs cannot be negative (0 records the network as it is).")
    if not config.lr > 0:
        raise NnreelError("The learning rate (--lr) must be positive.")

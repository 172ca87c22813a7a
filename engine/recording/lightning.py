"""A PyTorch Lightning callback that records a ``Trainer.fit`` into an nnreel run.

    from engine.recording.lightning import RecordCallback
    trainer = L.Trainer(max_epochs=3, callbacks=[RecordCallback("lenet", classes=names)])

A thin adapter over ``record``: the same streams as a plain loop. Return ``{"loss": loss,
"logits": logits}`` from ``training_step`` for the training accuracy; log ``val_loss`` and
``val_acc`` (or pass ``data=`` to have the callback validate). Needs the ``lightning`` extra
(``pip install nnreel[lightning]``). Only global rank 0 records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from engine.recording.config import RecordConfig
from engine.recording.recorder import Recorder, record


class RecordCallback(pl.Callback):
    """Record the module being fitted; arguments as for ``engine.record``."""

    def __init__(
        self,
        run: str | Path,
        *,
        probe: Any = None,
        data: Any = None,
        classes: Sequence[str] | None = None,
        layers: Sequence[str] | str = "auto",
        normalize: tuple[Sequence[float], Sequence[float]] | None = None,
        config: RecordConfig | None = None,
        name: str | None = None,
        overwrite: bool = False,
        val_loss: str = "val_loss",
        val_acc: str = "val_acc",
    ):
        self.run, self.data = run, data
        self.options = dict(
            probe=probe,
            data=data,
            classes=classes,
            layers=layers,
            normalize=normalize,
            config=config,
            name=name,
            overwrite=overwrite,
        )
        self.metric_names = (val_loss, val_acc)
        self.recorder: Recorder | None = None
        self._validated = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        batches = trainer.num_training_batches
        steps = int(batches) if isinstance(batches, int) or float(batches).is_integer() else None
        self.recorder = record(
            pl_module,
            self.run,
            optimizer=trainer.optimizers[0] if trainer.optimizers else None,
            epochs=epochs,
            steps_per_epoch=steps,
            **self.options,
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.recorder is None:
            return
        loss, logits = outputs, None
        if isinstance(outputs, Mapping):
            loss, logits = outputs.get("loss"), outputs.get("logits")
        targets = batch[1] if isinstance(batch, (tuple, list)) and len(batch) > 1 else None
        self.recorder.step(loss=loss, logits=logits, targets=targets)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.recorder is None or trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        loss_name, acc_name = self.metric_names
        if loss_name in metrics:
            acc = metrics.get(acc_name)
            self.recorder.validate(
                loss=float(metrics[loss_name]), acc=None if acc is None else float(acc)
            )
            self._validated = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.recorder is not None and not self._validated and self.data is not None:
            self.recorder.validate()
        self._validated = False

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.recorder is not None:
            status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
            self.recorder.close(status, str(exception))
            self.recorder = None

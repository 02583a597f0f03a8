"""Callbacks: code that `fit` runs after each epoch.

    history = fit(model, loss_fn, optimizer, train_loader, epochs=30, val_loader=val_loader,
                  callbacks=[BestWeights("val_accuracy"),           # keep and restore the best
                             EarlyStopping("val_loss", patience=5), # stop when it stalls
                             Checkpoint("runs/mnist", every=5)])    # resumable checkpoints

A callback subclasses `Callback` and overrides any of `on_train_begin(run)`,
`on_epoch_end(run)` and `on_train_end(run)`. `run` is the `TrainingRun`: `run.model`,
`run.optimizer`, `run.history` (whose `.last` is the epoch just finished), `run.epoch`,
`run.stop_training` (set it to True to stop after this epoch), `run.log(text)`.

After each epoch `fit` calls the callbacks in the order given, except that those with a larger
`order` come later (Checkpoint's is 100, so it saves what the others have just updated).
A callback that keeps state across epochs returns it from `state_dict()` (a structure
`minidl.save` can write) and takes it back in `load_state_dict()`: checkpoints include it, so
a resumed run remembers the best weights so far and how long the metric has stalled.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..serialization import save
from .checkpoint import training_state
from .history import COLUMNS, default_mode, is_better


class Callback:
    """Base class: every hook does nothing."""

    #: callbacks run in increasing order (stable): Checkpoint (100) after the others (0)
    order = 0

    def on_train_begin(self, run) -> None:
        pass

    def on_epoch_end(self, run) -> None:
        pass

    def on_train_end(self, run) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _Monitor(Callback):
    """Shared by BestWeights and EarlyStopping: follows one column of the History."""

    def __init__(self, monitor: str, mode: str | None, min_delta: float):
        name = type(self).__name__
        if monitor not in COLUMNS or monitor in ("epoch", "lr", "seconds"):
            raise ValueError(f"{name}: monitor must be one of train_loss, train_accuracy, "
                             f"val_loss, val_accuracy, got {monitor!r}")
        if mode not in (None, "min", "max"):
            raise ValueError(f"{name}: mode must be 'min', 'max' or None (max for accuracies, "
                             f"min for losses), got {mode!r}")
        if not isinstance(min_delta, (int, float)) or isinstance(min_delta, bool) \
                or not min_delta >= 0:
            raise ValueError(f"{name}: min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.mode = monitor, mode or default_mode(monitor)
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, run) -> None:
        if self.monitor.startswith("val_") and run.val_loader is None:
            raise ValueError(f"{type(self).__name__}(monitor={self.monitor!r}) needs "
                             f"validation data: pass val_loader to fit, or monitor "
                             f"{self.monitor.replace('val_', 'train_')!r}")

    def _improved(self, run) -> bool | None:
        """True if this epoch's value is the best so far, False if not, None if missing."""
        value = run.history.last[self.monitor]
        if value is None:
            return None
        if math.isnan(value):
            return False
        if self.best is None or is_better(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch = float(value), run.epoch
            return True
        return False


class BestWeights(_Monitor):
    """Keep a copy of the weights of the epoch with the best `monitor` value, and put them back
    into the model when training ends (as the PyTorch transfer-learning tutorial does with
    `copy.deepcopy(model.state_dict())`).

    Args:
        monitor: 'val_accuracy' (default), 'val_loss', 'train_loss' or 'train_accuracy'.
        mode: 'max' or 'min'; by default max for accuracies and min for losses.
        min_delta: an epoch counts as better only if it improves by more than this.

    After `fit`: `best` (the value), `best_epoch`, `best_weights` (name -> array copy).
    """

    def __init__(self, monitor: str = "val_accuracy", mode: str | None = None,
                 min_delta: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.best_weights: dict | None = None

    def on_epoch_end(self, run) -> None:
        if self._improved(run):
            self.best_weights = {name: np.array(tensor.data, copy=True)
                                 for name, tensor in run.model.state_dict().items()}

    def on_train_end(self, run) -> None:
        if self.best_weights is None:
            return
        run.model.load_state_dict(self.best_weights)
        if self.best_epoch != run.epoch:
            run.log(f"restored the weights of epoch {self.best_epoch} "
                    f"({self.monitor} {self.best:.4f})")

    def state_dict(self) -> dict:
        if self.best_weights is None:
            return {}
        return {"best": self.best, "best_epoch": self.best_epoch, "weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
            self.best_weights = dict(state["weights"])


class EarlyStopping(_Monitor):
    """Stop training when `monitor` has not improved for `patience` epochs in a row.

    Args:
        monitor: 'val_loss' (default), 'val_accuracy', 'train_loss' or 'train_accuracy'.
        patience: how many epochs without improvement to allow (>= 1). With the best value at
            epoch b and none better after it, training stops after epoch b + patience.
        mode, min_delta: as for BestWeights.

    After `fit`: `stopped_epoch` (None if training ran all its epochs), `best`, `best_epoch`.
    Pair it with BestWeights to end with the best weights rather than the last ones.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str | None = None,
                 min_delta: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ValueError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        self.patience = patience
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, run) -> None:
        super().on_train_begin(run)
        if self.wait >= self.patience:  # resumed from a checkpoint of a run that had stopped
            run.stop_training = True

    def on_epoch_end(self, run) -> None:
        improved = self._improved(run)
        if improved is None:
            return
        self.wait = 0 if improved else self.wait + 1
        if self.wait >= self.patience:
            run.stop_training = True
            self.stopped_epoch = run.epoch
            run.log(f"early stopping after epoch {run.epoch}: {self.monitor} has not improved "
                    f"for {self.wait} epochs (best {self.best:.4f} at epoch {self.best_epoch})")

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.best = None if state["best"] is None else float(state["best"])
            self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
            self.wait = int(state["wait"])


class Checkpoint(Callback):
    """Every `every` epochs, save the whole training state with `minidl.save`: model,
    optimizer, scheduler, epoch, minidl's generator and the training DataLoader's generator,
    the history so far and the state of the other callbacks (see
    `minidl.train.checkpoint`). `fit(..., resume=path)` continues from such a file.

    Args:
        directory: where to write (created if missing).
        every: save after epochs every, 2*every, ... (a positive int).
        filename: a format string with {epoch}; the default gives 'epoch_003.safetensors'.
        config: anything `minidl.save` can write, stored as the checkpoint's 'config' (e.g.
            the settings needed to rebuild the model).

    `paths` lists the files written, oldest first. Each is written atomically.
    """

    order = 100

    def __init__(self, directory, every: int = 1, filename: str = "epoch_{epoch:03d}.safetensors",
                 config=None):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"Checkpoint: every must be a positive int, got {every!r}")
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"Checkpoint: directory must be a path, got {directory!r}")
        try:
            filename.format(epoch=1)
        except (AttributeError, KeyError, IndexError, ValueError) as error:
            raise ValueError(f"Checkpoint: filename must be a format string using only "
                             f"{{epoch}}, got {filename!r} ({error})") from None
        self.directory, self.every, self.filename = os.fspath(directory), every, filename
        self.config = config
        self.paths: list[str] = []

    def on_train_begin(self, run) -> None:
        os.makedirs(self.directory, exist_ok=True)

    def on_epoch_end(self, run) -> None:
        if run.epoch % self.every == 0:
            path = os.path.join(self.directory, self.filename.format(epoch=run.epoch))
            save(training_state(run.model, run.optimizer, run.scheduler, run.train_loader,
                                run.epoch, run.history, run.callbacks, self.config), path)
            self.paths.append(path)

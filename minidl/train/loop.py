"""fit and evaluate: the training loop every example writes by hand, written once.

    from minidl.train import fit, evaluate, BestWeights

    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs=8,
                  val_loader=val_loader, scheduler=StepLR(optimizer, 3, 0.2))
    loss, accuracy = evaluate(model, test_loader, nn.CrossEntropyLoss())

Each step is the usual zero_grad / forward / loss / backward / step. `fit` checks that the
loss is finite before backward and that the gradients are finite before the optimizer step,
so a diverging run stops with `TrainingDiverged` and that step undone: the model (parameters
and buffers, BatchNorm's running statistics included) and the optimizer are those of the last
good step. A loss that explodes but stays finite, or a run that ends at chance accuracy, is
warned about (`DivergenceWarning`, `NotLearningWarning`; see `minidl.train.divergence`).
"""
from __future__ import annotations

import math
import numbers
import os
import time
import warnings
from typing import NamedTuple

import numpy as np

from .. import _checks
from ..autograd import no_grad
from ..nn.module import Module
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..tensor import Tensor
from . import divergence
from .callbacks import Checkpoint
from .checkpoint import restore_training_state
from .divergence import (BufferSnapshot, DivergenceWarning, NotLearningWarning,
                         TrainingDiverged)  # noqa: F401 (TrainingDiverged: still importable here)
from .history import History
from .progress import make_progress


class EvalResult(NamedTuple):
    """What `evaluate` measured: mean loss per sample (None without a loss function) and
    accuracy (None if the outputs are not class scores for integer labels)."""
    loss: float | None
    accuracy: float | None


class TrainingRun:
    """What callbacks see: the objects being trained and where the run is.

    Attributes: model, loss_fn, optimizer, scheduler, train_loader, val_loader, callbacks,
    history (History), epoch (epochs completed), epochs (the target), stop_training (set it to
    True to stop after the current epoch); `log(text)` prints a line through the progress
    reporter.
    """

    def __init__(self, model, loss_fn, optimizer, scheduler, train_loader, val_loader,
                 callbacks, epochs, progress):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.scheduler, self.train_loader, self.val_loader = scheduler, train_loader, val_loader
        self.callbacks, self.epochs = callbacks, epochs
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self._progress = progress
        self._resumed_from: str | None = None  # the checkpoint fit resumed from, if any

    def log(self, text: str) -> None:
        self._progress.message(text)


def evaluate(model: Module, loader, loss_fn=None) -> EvalResult:
    """The mean loss per sample (if `loss_fn` is given) and the accuracy of `model` over all
    batches of `loader`.

    The model runs in evaluation mode (BatchNorm uses its running statistics, Dropout does
    nothing) under `no_grad`; afterwards every sub-module is back in the mode it was in.
    `loss_fn` must average over the batch (reduction='mean', the default of the losses); the
    batch means are weighted by batch size, so a smaller last batch counts for what it holds.
    Accuracy compares the argmax of outputs (N, C) with integer labels (N,).
    """
    if not isinstance(model, Module):
        raise TypeError(f"evaluate: expected a Module, got {type(model).__name__}")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"evaluate: loss_fn must be callable or None, got {loss_fn!r}")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    total_loss, correct, count, classified = 0.0, 0, 0, True
    try:
        with no_grad():
            for inputs, targets in loader:
                outputs = model(inputs)
                size = _batch_size(inputs)
                if loss_fn is not None:
                    total_loss += float(loss_fn(outputs, targets).item()) * size
                hits = _correct(outputs, targets)
                classified = classified and hits is not None
                correct += hits or 0
                count += size
    finally:
        for module, training in modes:
            module.training = training
    if count == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return EvalResult(total_loss / count if loss_fn is not None else None,
                      correct / count if classified else None)


def fit(model: Module, loss_fn, optimizer, train_loader, epochs: int, val_loader=None,
        scheduler=None, callbacks=(), *, resume=None, progress="auto",
        log_every: int | None = None, file=None,
        explosion_factor: float | None = 10.0) -> History:
    """Train `model` for `epochs` epochs and return the History.

    Args:
        model: the Module to train (set to training mode for the training steps).
        loss_fn: `loss_fn(outputs, targets)` -> a scalar Tensor averaged over the batch, e.g.
            `nn.CrossEntropyLoss()`.
        optimizer: an optimizer over the model's parameters.
        train_loader: yields (inputs, targets) batches, e.g. a shuffling `DataLoader`.
        epochs: the total number of epochs; a resumed run trains the ones still missing.
        val_loader: evaluated with `evaluate` after every epoch (val_loss, val_accuracy).
        scheduler: stepped once per epoch, after the epoch's training steps.
            `ReduceLROnPlateau` gets the epoch's validation loss (the training loss without a
            val_loader).
        callbacks: `BestWeights`, `EarlyStopping`, `Checkpoint` or your own `Callback`s.
        resume: a checkpoint written by `Checkpoint` (a path, or a dict from
            `training_state`): the model, optimizer, scheduler, the loader's and minidl's
            random generators, the history and the callbacks' state are restored from it, and
            training goes on with the epoch after the one it recorded. With the same kernels
            and number of threads the result equals that of a run never interrupted.
        progress: 'auto' (a tqdm bar on a terminal if tqdm is installed, else plain lines),
            'bar', 'lines' or 'none' (see `minidl.train.progress`).
        log_every: with plain lines, also print a line every `log_every` steps.
        file: where progress goes (default sys.stdout).
        explosion_factor: the loss-explosion rule, checked after every epoch: the loss has
            exploded when the median loss of 10 consecutive steps is more than this many
            times `history.start_loss`, the loss of the untrained model (the first step's, or
            the median of the first steps holding 32 samples when batches are smaller). A
            normal run's loss falls from its start, and a 10-step median ignores the spikes
            of noisy small batches and of the first steps. fit then warns once
            (`DivergenceWarning`), sets `history.diverged` and trains on. None turns the rule
            off.

    Raises:
        TrainingDiverged: the loss or a gradient was NaN or infinite; the step was undone, so
            the model (parameters and buffers, BatchNorm's running statistics included) and
            the optimizer are as they were after the previous step. Also raised at the end
            of an epoch in which a buffer became NaN or infinite, and just after an update
            that overflowed although its gradient was finite (the message says so).

    Warns:
        DivergenceWarning: the loss exploded (see explosion_factor); `history.diverged`.
        NotLearningWarning: after at least 50 steps the last epoch's training accuracy is at
            chance (1/classes plus a fifth of it, at most 0.02); `history.not_learning`.
    """
    _check_fit_arguments(model, loss_fn, optimizer, train_loader, epochs, scheduler)
    if explosion_factor is not None:
        _checks.check_number(explosion_factor, "fit", "explosion_factor", low=1,
                             low_inclusive=False)
    callbacks = sorted(callbacks, key=lambda callback: getattr(callback, "order", 0))
    reporter = make_progress(progress, file, log_every)
    run = TrainingRun(model, loss_fn, optimizer, scheduler, train_loader, val_loader,
                      callbacks, epochs, reporter)
    try:
        if resume is not None:
            run.epoch, run.history = restore_training_state(
                resume, model, optimizer, scheduler, train_loader, callbacks)
            where = os.fspath(resume) if isinstance(resume, (str, os.PathLike)) \
                else "the checkpoint"
            run._resumed_from = where
            run.log(f"resumed from {where} after epoch {run.epoch}"
                    + (f" (of {epochs}: nothing left to train)" if run.epoch >= epochs else ""))
        for callback in callbacks:
            callback.on_train_begin(run)
        names = {id(param): name for name, param in model.named_parameters()}
        trained = None
        for epoch in range(run.epoch + 1, epochs + 1):
            if run.stop_training:
                break
            trained = _train_epoch(run, epoch, names)
            record = trained.record
            _record_epoch(run.history, trained, explosion_factor)
            if scheduler is not None:
                if isinstance(scheduler, ReduceLROnPlateau):
                    metric = record["val_loss"] if val_loader is not None else record["train_loss"]
                    scheduler.step(metric)
                else:
                    scheduler.step()
            run.epoch = epoch
            reporter.epoch_end(record)
            for callback in callbacks:
                callback.on_epoch_end(run)
        if trained is not None:  # else nothing was trained: the History keeps its verdict
            _judge_learning(run.history, trained.classes)
        for callback in callbacks:
            callback.on_train_end(run)
    finally:
        reporter.close()
    return run.history


class _Epoch(NamedTuple):
    """What one epoch of training steps gives back to fit."""
    record: dict                 # the History columns
    step_losses: list
    first_batch_size: int
    classes: int | None          # how many classes the outputs score (None: not class scores)


def _record_epoch(history: History, trained: _Epoch, explosion_factor: float | None) -> None:
    """Append the epoch to the History and apply the explosion rule to its steps."""
    since = len(history.step_loss)
    history.append_epoch(trained.record, trained.step_losses)
    if history.start_loss is None:  # the run's first epoch (a resumed run has one already)
        history.start_loss = divergence.start_loss(trained.step_losses,
                                                   trained.first_batch_size)
    if explosion_factor is None or history.diverged is not None:
        return
    history.diverged = divergence.find_loss_explosion(history, explosion_factor, since)
    if history.diverged is not None:
        lr = trained.record["lr"]
        lower = "" if lr is None else f" (e.g. to {lr / 10:.3g})"
        warnings.warn(f"fit: {history.diverged}. Try: lower the learning rate{lower}",
                      DivergenceWarning, stacklevel=3)


def _judge_learning(history: History, classes: int | None) -> None:
    """At the end of fit: warn if the run ended at chance accuracy."""
    history.not_learning = divergence.find_chance_accuracy(history, classes)
    if history.not_learning is not None:
        warnings.warn(f"fit: {history.not_learning}. Check the learning rate (too high or too "
                      f"low), the labels and the input normalisation", NotLearningWarning,
                      stacklevel=3)


def _train_epoch(run: TrainingRun, epoch: int, names: dict) -> _Epoch:
    """One epoch of training steps, then the validation."""
    model, optimizer = run.model, run.optimizer
    try:
        steps = len(run.train_loader)
    except TypeError:
        steps = None
    lr = _learning_rate(optimizer)
    run._progress.epoch_start(epoch, run.epochs, steps)
    start = time.perf_counter()
    model.train()
    buffers = BufferSnapshot(model)  # per epoch: callbacks may have replaced a buffer
    losses, total_loss, correct, count, classified = [], 0.0, 0, 0, True
    step, first_batch_size, classes = 0, None, None
    for step, (inputs, targets) in enumerate(run.train_loader, start=1):
        buffers.take()
        try:
            outputs, value = _forward_backward(run, inputs, targets, names, epoch, step, steps,
                                               lr)
        except BaseException:
            buffers.restore()  # the forward pass updated them: undo the whole step
            raise
        optimizer.step()
        _check_parameters(run, names, epoch, step, steps, lr)
        size = _batch_size(inputs)
        first_batch_size = first_batch_size or size
        losses.append(value)
        total_loss += value * size
        count += size
        hits = _correct(outputs, targets)
        classified = classified and hits is not None
        correct += hits or 0
        run._progress.step(step, value, total_loss / count)
    if step == 0:
        raise ValueError(f"fit: the training loader yielded no batches in epoch {epoch}")
    broken = buffers.first_nonfinite()  # e.g. a running variance that overflowed
    if broken is not None:
        raise divergence.buffers_diverged(epoch, steps, lr, broken,
                                          _rollback(run, further=False))
    if classified:  # the outputs are (N, classes) scores
        classes = np.shape(outputs.data if isinstance(outputs, Tensor) else outputs)[1]
    record = {"epoch": epoch, "train_loss": total_loss / count,
              "train_accuracy": correct / count if classified else None, "lr": lr}
    if run.val_loader is not None:
        record["val_loss"], record["val_accuracy"] = evaluate(model, run.val_loader,
                                                              run.loss_fn)
    record["seconds"] = time.perf_counter() - start
    return _Epoch(record, losses, first_batch_size, classes)


def _forward_backward(run, inputs, targets, names, epoch, step, steps, lr):
    """zero_grad, forward, loss, backward, with the loss and gradients checked finite:
    (outputs, the loss as a float). Changes no parameter or optimizer state."""
    run.optimizer.zero_grad()
    outputs = run.model(inputs)
    loss = run.loss_fn(outputs, targets)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TypeError(f"fit: loss_fn must return a scalar Tensor (reduction='mean'), got "
                        f"{type(loss).__name__}"
                        + (f" of shape {loss.shape}" if isinstance(loss, Tensor) else ""))
    value = float(loss.item())
    if not math.isfinite(value):
        raise divergence.diverged_before_update(epoch, step, steps, lr, value,
                                                f"the loss is {value}", inputs,
                                                _rollback(run, further=True))
    loss.backward()
    for group in run.optimizer.param_groups:
        for param in group["params"]:
            if param.grad is not None and not np.isfinite(param.grad.data).all():
                name = names.get(id(param), "a parameter outside the model")
                raise divergence.diverged_before_update(
                    epoch, step, steps, lr, value,
                    f"the gradient of {name} is not finite (loss {value:.4g})", inputs,
                    _rollback(run, further=True))
    return outputs, value


def _check_parameters(run, names, epoch, step, steps, lr) -> None:
    """The last line of defence: an update that overflowed although its gradient was finite."""
    for group in run.optimizer.param_groups:
        for param in group["params"]:
            if not np.isfinite(param.data).all():
                name = names.get(id(param), "a parameter outside the model")
                raise divergence.diverged_after_update(epoch, step, steps, lr, name,
                                                       _rollback(run, further=False))


def _rollback(run: TrainingRun, further: bool) -> str:
    """Where the run can go back to: its last checkpoint, or the one it resumed from."""
    paths = [path for callback in run.callbacks if isinstance(callback, Checkpoint)
             for path in callback.paths]
    return divergence.rollback_hint(paths, run._resumed_from, further)


def _learning_rate(optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    if groups and "lr" in groups[0]:
        return float(groups[0]["lr"])
    return None


def _batch_size(inputs) -> int:
    return len(inputs.data) if isinstance(inputs, Tensor) else len(inputs)


def _correct(outputs, targets) -> int | None:
    """How many argmax predictions equal the integer targets; None if that makes no sense."""
    scores = outputs.data if isinstance(outputs, Tensor) else np.asarray(outputs)
    labels = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if scores.ndim != 2 or labels.ndim != 1 or labels.dtype.kind not in "iu" \
            or len(labels) != len(scores):
        return None
    return int((scores.argmax(axis=1) == labels).sum())


def _check_fit_arguments(model, loss_fn, optimizer, train_loader, epochs, scheduler) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"fit: expected model to be a Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, e.g. nn.CrossEntropyLoss(), got "
                        f"{loss_fn!r}")
    for method in ("zero_grad", "step"):
        if not callable(getattr(optimizer, method, None)):
            raise TypeError(f"fit: expected an optimizer (with zero_grad and step), got "
                            f"{type(optimizer).__name__}")
    if not hasattr(train_loader, "__iter__"):
        raise TypeError(f"fit: train_loader must be iterable, got {type(train_loader).__name__}")
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"fit: scheduler must have a step() method, got "
                        f"{type(scheduler).__name__}")

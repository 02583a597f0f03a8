"""fit and evaluate: the training loop every example writes by hand, written once.

    from minidl.train import fit, evaluate, BestWeights

    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs=8,
                  val_loader=val_loader, scheduler=StepLR(optimizer, 3, 0.2))
    loss, accuracy = evaluate(model, test_loader, nn.CrossEntropyLoss())

Each step is the usual zero_grad / forward / loss / backward / step. `fit` checks that the
loss is finite before backward and that the gradients are finite before the optimizer step,
so a diverging run stops with `TrainingDiverged` while the weights are still those of the
last good step.
"""
from __future__ import annotations

import math
import numbers
import os
import time
from typing import NamedTuple

import numpy as np

from ..autograd import no_grad
from ..nn.module import Module
from ..optim.lr_scheduler import ReduceLROnPlateau
from ..tensor import Tensor
from .checkpoint import restore_training_state
from .history import History
from .progress import make_progress


class TrainingDiverged(RuntimeError):
    """The loss (or a gradient) became NaN or infinite during `fit`.

    Normally raised before backward and the optimizer step could touch the weights, which stay
    those after the last good step; in the rare case where an update overflows although the
    loss and gradients were finite, raised just after it (the message then says so).
    Attributes: `epoch`, `step` (1-based, within the epoch), `lr` (the learning rate of the
    first parameter group), `loss` (the offending value).
    """

    def __init__(self, message: str, epoch: int, step: int, lr: float, loss: float):
        super().__init__(message)
        self.epoch, self.step, self.lr, self.loss = epoch, step, lr, loss


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
        log_every: int | None = None, file=None) -> History:
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

    Raises:
        TrainingDiverged: the loss or a gradient was NaN or infinite; nothing was applied from
            that step (BatchNorm running statistics excepted: its forward pass had run). If an
            update itself overflows, it is raised just after that step, saying so.
    """
    _check_fit_arguments(model, loss_fn, optimizer, train_loader, epochs, scheduler)
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
            run.log(f"resumed from {where} after epoch {run.epoch}"
                    + (f" (of {epochs}: nothing left to train)" if run.epoch >= epochs else ""))
        for callback in callbacks:
            callback.on_train_begin(run)
        names = {id(param): name for name, param in model.named_parameters()}
        for epoch in range(run.epoch + 1, epochs + 1):
            if run.stop_training:
                break
            record, step_losses = _train_epoch(run, epoch, names)
            run.history.append_epoch(record, step_losses)
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
        for callback in callbacks:
            callback.on_train_end(run)
    finally:
        reporter.close()
    return run.history


def _train_epoch(run: TrainingRun, epoch: int, names: dict) -> tuple[dict, list]:
    model, loss_fn, optimizer = run.model, run.loss_fn, run.optimizer
    try:
        steps = len(run.train_loader)
    except TypeError:
        steps = None
    lr = _learning_rate(optimizer)
    run._progress.epoch_start(epoch, run.epochs, steps)
    start = time.perf_counter()
    model.train()
    losses, total_loss, correct, count, classified = [], 0.0, 0, 0, True
    step = 0
    for step, (inputs, targets) in enumerate(run.train_loader, start=1):
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise TypeError(f"fit: loss_fn must return a scalar Tensor (reduction='mean'), got "
                            f"{type(loss).__name__}"
                            + (f" of shape {loss.shape}" if isinstance(loss, Tensor) else ""))
        value = float(loss.item())
        if not math.isfinite(value):
            raise _diverged(epoch, step, steps, lr, value, f"the loss is {value}", inputs)
        loss.backward()
        _check_gradients(optimizer, names, epoch, step, steps, lr, value, inputs)
        optimizer.step()
        _check_parameters(optimizer, names, epoch, step, steps, lr)
        size = _batch_size(inputs)
        losses.append(value)
        total_loss += value * size
        count += size
        hits = _correct(outputs, targets)
        classified = classified and hits is not None
        correct += hits or 0
        run._progress.step(step, value, total_loss / count)
    if step == 0:
        raise ValueError(f"fit: the training loader yielded no batches in epoch {epoch}")
    record = {"epoch": epoch, "train_loss": total_loss / count,
              "train_accuracy": correct / count if classified else None, "lr": lr}
    if run.val_loader is not None:
        record["val_loss"], record["val_accuracy"] = evaluate(model, run.val_loader, loss_fn)
    record["seconds"] = time.perf_counter() - start
    return record, losses


def _check_gradients(optimizer, names, epoch, step, steps, lr, loss, inputs) -> None:
    for group in optimizer.param_groups:
        for param in group["params"]:
            if param.grad is not None and not np.isfinite(param.grad.data).all():
                name = names.get(id(param), "a parameter outside the model")
                raise _diverged(epoch, step, steps, lr, loss,
                                f"the gradient of {name} is not finite (loss {loss:.4g})",
                                inputs)


def _check_parameters(optimizer, names, epoch, step, steps, lr) -> None:
    """The last line of defence: an update that overflowed although its gradient was finite."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            if not np.isfinite(param.data).all():
                name = names.get(id(param), "a parameter outside the model")
                raise TrainingDiverged(
                    f"training diverged at {_where(epoch, step, steps)} (learning rate "
                    f"{'unknown' if lr is None else f'{lr:.4g}'}): the update made {name} "
                    f"NaN or infinite although its gradient was finite, so the model's weights "
                    f"are no longer usable (reload them from a checkpoint). Try: lower the "
                    f"learning rate", epoch, step, lr, math.nan)


def _where(epoch, step, steps) -> str:
    return f"epoch {epoch}, step {step}" + (f" of {steps}" if steps else "")


def _diverged(epoch, step, steps, lr, loss, what, inputs) -> TrainingDiverged:
    where = _where(epoch, step, steps)
    data = inputs.data if isinstance(inputs, Tensor) else inputs
    try:
        bad_input = not np.isfinite(np.asarray(data)).all()
    except TypeError:
        bad_input = False
    rate = "unknown" if lr is None else f"{lr:.4g}"
    if bad_input:
        advice = ("the input batch itself contains NaN or infinite values: check the data and "
                  "its transforms")
    else:
        lower = "" if lr is None else f" (e.g. to {lr / 10:.3g})"
        advice = f"lower the learning rate{lower}, or clip the gradients or normalise the inputs"
    return TrainingDiverged(f"training diverged at {where} (learning rate {rate}): {what}; "
                            f"the weights are left as they were before this step. Try: {advice}",
                            epoch, step, lr, loss)


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

"""How `fit` tells a run that went wrong: what it raises, what it warns, and the step it undoes.

Three kinds of trouble, from the loudest:
- `TrainingDiverged` (raised): a loss or gradient is NaN or infinite. Nothing of that step is
  kept: the forward pass has already updated the model's buffers (BatchNorm's running_mean,
  running_var and num_batches_tracked), so `BufferSnapshot` puts them back, and the check
  runs before `optimizer.step()`, so the parameters and the optimizer are untouched.
- `DivergenceWarning` (warned, and `History.diverged`): the loss exploded but stayed finite.
  The rule, `find_loss_explosion`: the median loss of EXPLOSION_WINDOW consecutive steps is
  more than `explosion_factor` (10) times `History.start_loss`, the loss of the untrained model.
- `NotLearningWarning` (warned, and `History.not_learning`): after at least
  NOT_LEARNING_MIN_STEPS steps the last epoch's training accuracy is at chance.
"""
from __future__ import annotations

import math
import statistics

import numpy as np

#: History.start_loss is the median loss of the first steps that together hold this many
#: samples: one step for batches of 32 or more (a batch of 32 averages away per-sample noise),
#: more for smaller batches, whose single losses scatter by factors of ten
START_SAMPLES = 32
#: "sustained": the median of this many consecutive steps, so a few spikes never count
EXPLOSION_WINDOW = 10
#: a shorter run may well still be at chance: it is not judged
NOT_LEARNING_MIN_STEPS = 50
#: "at chance": a training accuracy within this share of chance above it (1/C + 1/(5C)),
#: but never more than NOT_LEARNING_MAX_MARGIN above (2 points for 10 or fewer classes)
NOT_LEARNING_MARGIN = 1 / 5
NOT_LEARNING_MAX_MARGIN = 0.02


class TrainingDiverged(RuntimeError):
    """The loss (or a gradient) became NaN or infinite during `fit`.

    Normally raised before the optimizer step, with the step undone: the model (parameters and
    buffers such as BatchNorm's running statistics) and the optimizer are as they were after
    the previous step. In the rare case where an update overflows although the loss and
    gradients were finite, raised just after it (the message then says so).
    Attributes: `epoch`, `step` (1-based, within the epoch), `lr` (the learning rate of the
    first parameter group), `loss` (the offending value), `reason` (what was not finite, e.g.
    "the loss is nan"), `bad_input` (True if the input batch itself held NaN or inf).
    """

    def __init__(self, message: str, epoch: int, step: int, lr: float, loss: float, *,
                 reason: str | None = None, bad_input: bool = False):
        super().__init__(message)
        self.epoch, self.step, self.lr, self.loss = epoch, step, lr, loss
        self.reason, self.bad_input = reason or message, bad_input


class DivergenceWarning(UserWarning):
    """fit: the training loss exploded while staying finite (see `find_loss_explosion`)."""


class NotLearningWarning(UserWarning):
    """fit: the run ended with its training accuracy at chance (see `find_chance_accuracy`)."""


# ====================================== undoing a step ======================================
class BufferSnapshot:
    """The model's buffers (BatchNorm's running_mean, running_var, num_batches_tracked, ...)
    as they were before the current training step.

    A training forward pass updates them before the loss can be checked, so a step that fails
    (a NaN loss or gradient, an exception, Ctrl-C) puts them back with `restore()` to leave
    the model as it was. Buffers are small (a few numbers per channel): `take()` copies them
    into arrays allocated once, about a microsecond per buffer. Parameters need no copy:
    nothing changes them before `optimizer.step()`.
    """

    def __init__(self, model):
        self._names, self._tensors = [], []
        for name, tensor in model.named_buffers():
            self._names.append(name)
            self._tensors.append(tensor)
        self._capture()

    def _capture(self) -> None:
        """Copy every buffer into fresh arrays (at the start, and after a buffer's array was
        replaced rather than updated in place)."""
        self._arrays = [tensor.data for tensor in self._tensors]
        self._copies = [np.array(array, copy=True) for array in self._arrays]

    def take(self) -> None:
        """Remember the buffers as they are now (called before each step)."""
        for tensor, array, copy in zip(self._tensors, self._arrays, self._copies):
            if tensor.data is not array:  # `.data` replaced: the copies may not fit any more
                self._capture()
                return
            np.copyto(copy, array)

    def restore(self) -> None:
        """Put every buffer back as `take()` found it: the same array, the same values."""
        for tensor, array, copy in zip(self._tensors, self._arrays, self._copies):
            if array.flags.writeable:  # a read-only buffer cannot have been updated in place
                np.copyto(array, copy)
            tensor.data = array

    def first_nonfinite(self) -> str | None:
        """The name of the first floating-point buffer holding NaN or inf, or None."""
        for name, tensor in zip(self._names, self._tensors):
            data = tensor.data
            if data.dtype.kind in "fc" and not np.isfinite(data).all():
                return name
        return None


# ====================================== what to say ========================================
def where(epoch: int, step: int, steps: int | None) -> str:
    return f"epoch {epoch}, step {step}" + (f" of {steps}" if steps else "")


def rate_text(lr: float | None) -> str:
    return "unknown" if lr is None else f"{lr:.4g}"


def state_before(epoch: int, step: int) -> str:
    """When the model and optimizer were last in the state a rolled-back step leaves them in."""
    if step > 1:
        return f"after step {step - 1} of epoch {epoch}"
    if epoch > 1:
        return f"at the end of epoch {epoch - 1}"
    return "before the first step"


def rollback_hint(checkpoint_paths: list, resumed_from: str | None, further: bool) -> str:
    """How to go back (further than the last good step): a clause for the message."""
    back = "to go back further" if further else "to go back"
    if checkpoint_paths:
        return (f"{back}, resume from the last checkpoint: "
                f"fit(..., resume={checkpoint_paths[-1]!r})")
    if resumed_from is not None:
        return (f"{back}, resume from the checkpoint this run started from: "
                f"fit(..., resume={resumed_from!r})")
    return ("no checkpoint was written to go back to (callbacks=[Checkpoint(directory)] "
            "writes them)")


def diverged_before_update(epoch, step, steps, lr, loss, reason, inputs, rollback):
    """The TrainingDiverged of a step undone before its update: what went wrong, the state
    left, how to go back further (`rollback`, from rollback_hint) and what to try."""
    bad_input = _holds_nonfinite(inputs)
    if bad_input:
        advice = ("the input batch itself contains NaN or infinite values: check the data and "
                  "its transforms")
    else:
        lower = "" if lr is None else f" (e.g. to {lr / 10:.3g})"
        advice = f"lower the learning rate{lower}, or clip the gradients or normalise the inputs"
    return TrainingDiverged(
        f"training diverged at {where(epoch, step, steps)} (learning rate {rate_text(lr)}): "
        f"{reason}; this step was undone, so the model (its parameters and its buffers, "
        f"BatchNorm's running statistics included) and the optimizer are as they were "
        f"{state_before(epoch, step)}; {rollback}. Try: {advice}",
        epoch, step, lr, loss, reason=reason, bad_input=bad_input)


def diverged_after_update(epoch, step, steps, lr, name, rollback) -> TrainingDiverged:
    """The TrainingDiverged of an update that overflowed although its gradient was finite."""
    reason = f"the update made {name} NaN or infinite although its gradient was finite"
    return TrainingDiverged(
        f"training diverged at {where(epoch, step, steps)} (learning rate {rate_text(lr)}): "
        f"{reason}; this step was applied, so the model's parameters and buffers and the "
        f"optimizer's state hold it and are no longer usable; {rollback}. "
        f"Try: lower the learning rate", epoch, step, lr, math.nan, reason=reason)


def buffers_diverged(epoch, steps, lr, name, rollback) -> TrainingDiverged:
    """The TrainingDiverged of a buffer that became NaN or inf with every loss finite."""
    reason = (f"the buffer {name} became NaN or infinite during the epoch although every "
              f"loss and gradient was finite")
    return TrainingDiverged(
        f"training diverged in epoch {epoch} (learning rate {rate_text(lr)}): {reason}, so "
        f"the model's outputs in eval mode are not usable (its parameters are those after the "
        f"epoch's last step); {rollback}. Try: normalise the inputs, or lower the learning "
        f"rate",
        epoch, steps or 0, lr, math.nan, reason=reason)


def _holds_nonfinite(inputs) -> bool:
    data = getattr(inputs, "data", inputs)
    try:
        return not np.isfinite(np.asarray(data)).all()
    except TypeError:  # not numbers: nothing to say about them
        return False


# ====================================== the rules ==========================================
def start_loss(step_losses: list, first_batch_size: int) -> float:
    """The loss of the untrained model: the median over the first steps that together hold
    START_SAMPLES samples (the first step alone for batches of 32 or more)."""
    count = max(1, math.ceil(START_SAMPLES / max(first_batch_size, 1)))
    return statistics.median(step_losses[:count])


def find_loss_explosion(history, factor: float, since: int) -> str | None:
    """Why the training loss counts as exploded, or None.

    The rule: some EXPLOSION_WINDOW consecutive steps have a median loss above `factor` times
    `history.start_loss`. Windows ending at step index `since` or later are examined (the
    earlier ones were at the previous epochs). A start loss of 0 or below gives no scale to
    compare with: such runs are not judged.
    """
    reference, losses = history.start_loss, history.step_loss
    if reference is None or not reference > 0 or len(losses) < EXPLOSION_WINDOW:
        return None
    first = max(0, since - EXPLOSION_WINDOW + 1)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.asarray(losses[first:], dtype=np.float64), EXPLOSION_WINDOW)
    medians = np.median(windows, axis=1)
    above = np.flatnonzero(medians > factor * reference)
    if len(above) == 0:
        return None
    start = first + int(above[0])
    median = float(medians[above[0]])
    (epoch, step), (last_epoch, last_step) = history.locate(start), \
        history.locate(start + EXPLOSION_WINDOW - 1)
    span = (f"steps {step}-{last_step} of epoch {epoch}" if epoch == last_epoch else
            f"step {step} of epoch {epoch} to step {last_step} of epoch {last_epoch}")
    return (f"the training loss exploded: its median over {span} is {median:.4g}, "
            f"{median / reference:.3g} times the loss at the start ({reference:.4g}; the limit "
            f"is {factor:g} times)")


def find_chance_accuracy(history, classes: int | None) -> str | None:
    """Why the run counts as not having learned, or None.

    The rule: after at least NOT_LEARNING_MIN_STEPS steps, the last epoch's training accuracy
    is at most chance, 1/classes, plus a fifth of it (at most 0.02): 0.12 for 10 classes, 0.52
    for 2. Runs whose outputs are not class scores are not judged.
    """
    accuracy = history.records[-1]["train_accuracy"] if history.records else None
    if accuracy is None or classes is None or classes < 2 \
            or len(history.step_loss) < NOT_LEARNING_MIN_STEPS:
        return None
    chance = 1.0 / classes
    if accuracy > chance + min(chance * NOT_LEARNING_MARGIN, NOT_LEARNING_MAX_MARGIN):
        return None
    return (f"the model did not learn: its training accuracy in epoch "
            f"{history.records[-1]['epoch']} is {accuracy:.4f}, chance for {classes} classes "
            f"({chance:.4g}), after {len(history.step_loss)} steps")

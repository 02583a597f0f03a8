"""What `fit` prints while it trains: a tqdm bar on a terminal, plain lines everywhere else.

progress='auto' (the default) draws a tqdm bar per epoch when the output stream is a terminal
and tqdm is installed (`pip install minidl[progress]`); otherwise - a pipe, a file, a cluster
job's log, or no tqdm - it writes one plain line per epoch (and, with log_every=N, one every N
steps). Plain lines never contain carriage returns, so logs stay readable. 'bar' insists on a
bar (ImportError without tqdm), 'lines' always writes lines and 'none' writes nothing.
"""
from __future__ import annotations

import math
import sys

MODES = ("auto", "bar", "lines", "none")


def make_progress(mode="auto", file=None, log_every: int | None = None):
    """The reporter `fit` uses; see the module documentation."""
    if mode is True:
        mode = "auto"
    elif mode is False or mode is None:
        mode = "none"
    if mode not in MODES:
        raise ValueError(f"fit: progress must be one of {MODES} (or True/False), got {mode!r}")
    if log_every is not None and (not isinstance(log_every, int) or isinstance(log_every, bool)
                                  or log_every < 1):
        raise ValueError(f"fit: log_every must be a positive int or None, got {log_every!r}")
    file = sys.stdout if file is None else file
    if mode == "none":
        return SilentProgress()
    if mode == "bar":
        return BarProgress(file, _import_tqdm(required=True))
    if mode == "auto" and _is_terminal(file):
        tqdm = _import_tqdm(required=False)
        if tqdm is not None:
            return BarProgress(file, tqdm)
    return LineProgress(file, log_every)


def _is_terminal(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _import_tqdm(required: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        if required:
            raise ImportError("fit(progress='bar') needs tqdm, which is not installed: "
                              "pip install minidl[progress] (or use progress='lines')") from None
        return None
    return tqdm


def format_metrics(record: dict) -> str:
    """'loss 0.1234  accuracy 0.9612  val loss ...  lr 0.01  (1.23 s)' for an epoch record."""
    parts = []
    for key, label in (("train_loss", "loss"), ("train_accuracy", "accuracy"),
                       ("val_loss", "val loss"), ("val_accuracy", "val accuracy")):
        if record.get(key) is not None:
            parts.append(f"{label} {record[key]:.4f}")
    if record.get("lr") is not None:
        parts.append(f"lr {record['lr']:.4g}")
    if record.get("seconds") is not None:
        parts.append(f"({record['seconds']:.2f} s)")
    return "  ".join(parts)


class SilentProgress:
    """Prints nothing. The base of the other reporters: one method per event of `fit`."""

    def message(self, text: str) -> None:
        """A line of its own (resuming, stopping early, ...)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int | None) -> None:
        pass

    def step(self, step: int, loss: float, mean_loss: float) -> None:
        pass

    def epoch_end(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress(SilentProgress):
    """One line per epoch (and every `log_every` steps), flushed, without carriage returns."""

    def __init__(self, file, log_every: int | None = None):
        self.file, self.log_every = file, log_every
        self.epoch = self.epochs = self.steps = None

    def _write(self, text: str) -> None:
        self.file.write(text + "\n")
        self.file.flush()

    def message(self, text: str) -> None:
        self._write(text)

    def _prefix(self) -> str:
        width = len(str(self.epochs))
        return f"epoch {self.epoch:{width}d}/{self.epochs}"

    def epoch_start(self, epoch, epochs, steps):
        self.epoch, self.epochs, self.steps = epoch, epochs, steps

    def step(self, step, loss, mean_loss):
        if self.log_every and step % self.log_every == 0:
            of = f"/{self.steps}" if self.steps is not None else ""
            self._write(f"{self._prefix()}  step {step}{of}  loss {loss:.4f}  "
                        f"(epoch mean {mean_loss:.4f})")

    def epoch_end(self, record):
        self._write(f"{self._prefix()}  {format_metrics(record)}")


class BarProgress(SilentProgress):
    """A tqdm bar per epoch, left on screen with the epoch's metrics when it is done."""

    def __init__(self, file, tqdm):
        self.file, self.tqdm, self.bar = file, tqdm, None

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.file)
        else:
            self.file.write(text + "\n")
            self.file.flush()

    def epoch_start(self, epoch, epochs, steps):
        self.close()
        width = len(str(epochs))
        self.bar = self.tqdm(total=steps, desc=f"epoch {epoch:{width}d}/{epochs}",
                             file=self.file, leave=True, dynamic_ncols=True, unit="step")

    def step(self, step, loss, mean_loss):
        self.bar.update(1)
        if math.isfinite(mean_loss):
            self.bar.set_postfix_str(f"loss {mean_loss:.4f}", refresh=False)

    def epoch_end(self, record):
        self.bar.set_postfix_str(format_metrics(record), refresh=False)
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

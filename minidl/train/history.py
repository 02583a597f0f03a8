"""History: what `fit` measured, epoch by epoch and step by step."""
from __future__ import annotations

import csv
import math

import numpy as np

from .._files import write_atomically

#: the per-epoch columns, in the order of `to_csv`
COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class History:
    """The record of a training run, returned by `fit`.

    - `history.records`: one dict per epoch with the keys in `COLUMNS`:
      `epoch` (1, 2, ...), `train_loss` (the mean loss over the epoch's training samples, with
      the model in training mode, as the weights changed), `train_accuracy` (the same for the
      argmax predictions; None if the outputs are not class scores), `val_loss` and
      `val_accuracy` (from `evaluate` on the validation loader after the epoch; None without
      one), `lr` (the learning rate of the first parameter group during the epoch) and
      `seconds` (wall time of the epoch, validation included).
    - `history["val_accuracy"]`: one column as a list over the epochs.
    - `history.step_loss`: the loss of every training step, in order;
      `history.steps_per_epoch[i]` of them belong to epoch i + 1.
    - `history.start_loss`: the loss of the untrained model (see `fit`), the reference of its
      loss-explosion rule; None before the first epoch.
    - `history.diverged`: why fit considers that the loss exploded (while staying finite), or
      None; `history.not_learning`: why it considers that the model did not learn, or None.
      fit also warns (DivergenceWarning, NotLearningWarning) when it sets them.

    `to_csv(path)` writes the per-epoch table, `plot(path)` a PNG of the curves.
    """

    def __init__(self):
        self.records: list[dict] = []
        self.step_loss: list[float] = []
        self.steps_per_epoch: list[int] = []
        self.start_loss: float | None = None
        self.diverged: str | None = None
        self.not_learning: str | None = None

    # ----- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        """The number of epochs recorded."""
        return len(self.records)

    def __getitem__(self, column: str) -> list:
        if column not in COLUMNS:
            raise KeyError(f"History: unknown column {column!r}; expected one of {COLUMNS}")
        return [record[column] for record in self.records]

    @property
    def columns(self) -> tuple:
        return COLUMNS

    @property
    def last(self) -> dict | None:
        """The record of the last epoch (None before the first)."""
        return dict(self.records[-1]) if self.records else None

    def best(self, monitor: str = "val_accuracy", mode: str | None = None) -> dict | None:
        """The record of the epoch with the best value of `monitor` ('max' for accuracies,
        'min' for losses unless `mode` says otherwise); the first one on ties."""
        mode = mode or default_mode(monitor)
        best = None
        for record in self.records:
            value = record[monitor]
            if value is None or math.isnan(value):
                continue
            if best is None or is_better(value, best[monitor], mode):
                best = record
        return None if best is None else dict(best)

    def locate(self, index: int) -> tuple[int, int]:
        """(epoch, step within it, 1-based) of `step_loss[index]`."""
        if not 0 <= index < len(self.step_loss):
            raise IndexError(f"History.locate: step index {index} out of range "
                             f"(0 to {len(self.step_loss) - 1})")
        for record, count in zip(self.records, self.steps_per_epoch):
            if index < count:
                return record["epoch"], index + 1
            index -= count
        raise AssertionError("unreachable: steps_per_epoch sums to len(step_loss)")

    def __repr__(self) -> str:
        if not self.records:
            return "History(0 epochs)"
        last = ", ".join(f"{key}={_short(value)}" for key, value in self.records[-1].items()
                         if key != "epoch" and value is not None)
        flags = "".join(f", {name}" for name in ("diverged", "not_learning")
                        if getattr(self, name) is not None)
        return f"History({len(self)} epochs{flags}, last: {last})"

    # ----- writing (used by fit) --------------------------------------------------------------
    def append_epoch(self, record: dict, step_losses) -> None:
        """Add one epoch's record (keys: COLUMNS) and its per-step losses."""
        unknown = set(record) - set(COLUMNS)
        if unknown:
            raise KeyError(f"History.append_epoch: unknown columns {sorted(unknown)}")
        self.records.append({column: record.get(column) for column in COLUMNS})
        step_losses = [float(loss) for loss in step_losses]
        self.step_loss.extend(step_losses)
        self.steps_per_epoch.append(len(step_losses))

    # ----- files ------------------------------------------------------------------------------
    def to_csv(self, path, steps: bool = False) -> None:
        """Write the per-epoch table (a header line of COLUMNS, then one row per epoch; an empty
        cell where a value is missing) or, with steps=True, one row per training step
        (`step,epoch,loss`). Numbers are written with full precision."""
        write_atomically(path, self._write_steps if steps else self._write_epochs,
                         "History.to_csv", binary=False)

    def _write_epochs(self, file) -> None:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for record in self.records:
            writer.writerow(["" if record[c] is None else _cell(record[c]) for c in COLUMNS])

    def _write_steps(self, file) -> None:
        writer = csv.writer(file)
        writer.writerow(("step", "epoch", "loss"))
        for step, (epoch, loss) in enumerate(self._step_epochs(), start=1):
            writer.writerow((step, epoch, repr(loss)))

    def plot(self, path, title: str | None = None) -> None:
        """Write a PNG of the curves to `path`: loss (every step, and per epoch for training and
        validation) and accuracy per epoch. Needs matplotlib (`pip install minidl[plot]`);
        uses its Agg renderer without touching pyplot's global backend."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib, which is not installed: "
                              "pip install minidl[plot] (or pip install matplotlib)") from None
        figure = Figure(figsize=(10, 4), dpi=100)
        FigureCanvasAgg(figure)
        loss_axes, accuracy_axes = figure.subplots(1, 2)
        epochs = self["epoch"]
        if self.step_loss:
            x, y = self._step_positions()
            loss_axes.plot(x, y, color="0.75", linewidth=0.8, label="train loss (each step)")
        for column, style in (("train_loss", "o-"), ("val_loss", "s-")):
            self._plot_column(loss_axes, epochs, column, style)
        for column, style in (("train_accuracy", "o-"), ("val_accuracy", "s-")):
            self._plot_column(accuracy_axes, epochs, column, style)
        for axes, name in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_xlabel("epoch")
            axes.set_ylabel(name)
            axes.grid(True, alpha=0.3)
            if axes.get_legend_handles_labels()[0]:
                axes.legend()
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        write_atomically(path, lambda file: figure.savefig(file, format="png"), "History.plot")

    def _plot_column(self, axes, epochs, column, style) -> None:
        points = [(e, v) for e, v in zip(epochs, self[column])
                  if v is not None and math.isfinite(v)]
        if points:
            axes.plot(*zip(*points), style, label=column.replace("_", " "), markersize=4)

    def _step_epochs(self):
        """(epoch, loss) for each step."""
        position = 0
        for record, count in zip(self.records, self.steps_per_epoch):
            for loss in self.step_loss[position:position + count]:
                yield record["epoch"], loss
            position += count

    def _step_positions(self):
        """x (fractional epochs: step i of n in epoch e at e - 1 + i/n) and y for each step."""
        x, position = [], 0
        for record, count in zip(self.records, self.steps_per_epoch):
            x += [record["epoch"] - 1 + (i + 1) / count for i in range(count)]
            position += count
        return x, self.step_loss[:position]

    # ----- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """A structure `minidl.save` can write (the step losses as a float64 array)."""
        return {"records": [dict(record) for record in self.records],
                "step_loss": np.asarray(self.step_loss, dtype=np.float64),
                "steps_per_epoch": list(self.steps_per_epoch),
                "start_loss": self.start_loss, "diverged": self.diverged,
                "not_learning": self.not_learning}

    def load_state_dict(self, state: dict) -> None:
        try:
            records = [{column: _plain(record.get(column)) for column in COLUMNS}
                       for record in state["records"]]
            step_loss = [float(loss) for loss in np.asarray(state["step_loss"]).reshape(-1)]
            steps_per_epoch = [int(count) for count in state["steps_per_epoch"]]
            # absent from checkpoints written before fit recorded them
            start_loss = state.get("start_loss")
            start_loss = None if start_loss is None else float(start_loss)
            flags = [_optional_text(state.get(name), name) for name in ("diverged",
                                                                          "not_learning")]
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f"History.load_state_dict: not a History state ({error!r})") \
                from None
        if len(steps_per_epoch) != len(records) or sum(steps_per_epoch) != len(step_loss):
            raise ValueError("History.load_state_dict: the step losses do not match the epochs")
        self.records, self.step_loss, self.steps_per_epoch = records, step_loss, steps_per_epoch
        self.start_loss = start_loss
        self.diverged, self.not_learning = flags

    @classmethod
    def from_state_dict(cls, state: dict) -> "History":
        history = cls()
        history.load_state_dict(state)
        return history


def default_mode(monitor: str) -> str:
    """'max' for accuracies, 'min' for everything else (losses)."""
    return "max" if "accuracy" in monitor else "min"


def is_better(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    """Whether `value` improves on `best` by more than `min_delta` ('max' or 'min')."""
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _plain(value):
    """NumPy scalars (as minidl.load gives them back) -> Python numbers."""
    return value.item() if isinstance(value, np.generic) else value


def _optional_text(value, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    return value


def _cell(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

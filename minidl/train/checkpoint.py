"""Training checkpoints: everything needed to resume a run exactly where it stopped.

    state = training_state(model, optimizer, scheduler, train_loader, epoch=3, history=history)
    minidl.save(state, "run/epoch_003.safetensors")
    ...
    epoch, history = restore_training_state("run/epoch_003.safetensors", model, optimizer,
                                            scheduler, train_loader)

(`fit(..., callbacks=[Checkpoint("run", every=1)])` writes them and `fit(..., resume=path)`
reads them back; these two functions are what they use.)

A checkpoint is a `minidl.save` file (safetensors; no pickle) holding:

    format, version      "minidl.training_state", 1
    epoch                the number of epochs completed
    model                model.state_dict() (parameters and buffers, PyTorch's keys)
    optimizer            optimizer.state_dict() (momentum buffers, Adam moments, rates, ...)
    scheduler            scheduler.state_dict(), or None
    rng                  the state of minidl's generator (initialisation, dropout, augmentation)
    loader_rng           the state of the training DataLoader's own generator (shuffling)
    history              History.state_dict(): the epochs and steps so far
    callbacks            the state of callbacks that keep some (best weights, early stopping)
    config               anything else the caller wants to keep (the CLI: model name, settings)

Restoring all of it after epoch k and training on gives the same weights as a run that was
never interrupted: bit for bit with the same kernels and the same number of threads.
"""
from __future__ import annotations

import os

import numpy as np

from .. import random as _random
from ..serialization import load
from .history import History

FORMAT, VERSION = "minidl.training_state", 1


def training_state(model, optimizer=None, scheduler=None, train_loader=None, epoch: int = 0,
                   history: History | None = None, callbacks=(), config=None) -> dict:
    """A dict for `minidl.save` with the state of a training run after `epoch` epochs (see the
    module documentation). Arrays are copies: training on does not change it."""
    generator = _loader_generator(train_loader)
    return {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model": {name: np.array(tensor.data, copy=True)
                  for name, tensor in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _random.default_generator().bit_generator.state,
        "loader_rng": generator.bit_generator.state if generator is not None else None,
        "history": history.state_dict() if history is not None else None,
        "callbacks": callback_states(callbacks),
        "config": config,
    }


def restore_training_state(checkpoint, model, optimizer=None, scheduler=None,
                           train_loader=None, callbacks=()) -> tuple[int, History]:
    """Put a run back in the state a checkpoint recorded; returns (epochs completed, History).

    `checkpoint` is a path (read with `minidl.load`) or the dict `training_state` gave. The
    model, and each of the optimizer, scheduler, train_loader (its shuffling generator) and
    callbacks that is given, is loaded in place; minidl's generator is restored too. Raises
    ValueError for a file that is not a training checkpoint or does not fit the model.
    """
    state = read_training_state(checkpoint)
    where = _describe(checkpoint)
    model.load_state_dict(state["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if state.get(name) is None:
            raise ValueError(f"restore_training_state: {where} holds no {name} state, but an "
                             f"{name} was given to restore")
        target.load_state_dict(state[name])
    generator = _loader_generator(train_loader)
    if generator is not None and state.get("loader_rng") is not None:
        generator.bit_generator.state = state["loader_rng"]
    if state.get("rng") is not None:
        _random.default_generator().bit_generator.state = state["rng"]
    saved = state.get("callbacks") or {}
    for key, callback in _keyed(callbacks):
        if key in saved and hasattr(callback, "load_state_dict"):
            callback.load_state_dict(saved[key])
    history = History()
    if state.get("history") is not None:
        history.load_state_dict(state["history"])
    return int(state["epoch"]), history


def read_training_state(checkpoint) -> dict:
    """The checkpoint as a dict (loading it if it is a path), checked to be a training state."""
    if isinstance(checkpoint, (str, os.PathLike)):
        state = load(checkpoint)
    else:
        state = checkpoint
    if not (isinstance(state, dict) and state.get("format") == FORMAT):
        raise ValueError(f"{_describe(checkpoint)} is not a training checkpoint (one written by "
                         f"minidl.train.Checkpoint, training_state or `minidl train`)")
    if state.get("version") != VERSION:
        raise ValueError(f"{_describe(checkpoint)}: training checkpoint version "
                         f"{state.get('version')!r} is not supported (expected {VERSION})")
    for key in ("epoch", "model"):
        if key not in state:
            raise ValueError(f"{_describe(checkpoint)}: the training checkpoint has no {key!r}")
    return state


def callback_states(callbacks) -> dict:
    """{key: state} for the callbacks that keep state (see `_keyed`)."""
    states = {}
    for key, callback in _keyed(callbacks):
        state = callback.state_dict() if hasattr(callback, "state_dict") else None
        if state:
            states[key] = state
    return states


def _keyed(callbacks):
    """(key, callback): the class name, with '#2', '#3', ... for the second, third, ... of a
    class, so a resumed run matches its callbacks to the saved ones by kind and order."""
    counts: dict[str, int] = {}
    for callback in callbacks:
        name = type(callback).__name__
        counts[name] = counts.get(name, 0) + 1
        yield (name if counts[name] == 1 else f"{name}#{counts[name]}"), callback


def _loader_generator(loader):
    generator = getattr(loader, "generator", None)
    return generator if isinstance(generator, np.random.Generator) else None


def _describe(checkpoint) -> str:
    if isinstance(checkpoint, (str, os.PathLike)):
        return repr(os.fspath(checkpoint))
    return "the checkpoint"

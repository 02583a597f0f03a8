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

import copy
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
    ValueError for a file that is not a training checkpoint, holds malformed state or does not
    fit the model.
    """
    state = read_training_state(checkpoint)
    where = _describe(checkpoint)
    # what can be checked without changing anything is checked before anything is restored
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is not None and state.get(name) is None:
            raise ValueError(f"restore_training_state: {where} holds no {name} state, but an "
                             f"{name} was given to restore")
    generators = []  # (generator, the state to give it)
    for generator, key in ((_loader_generator(train_loader), "loader_rng"),
                           (_random.default_generator(), "rng")):
        if generator is not None and state.get(key) is not None:
            _check_generator_state(generator, state[key], where, key)
            generators.append((generator, state[key]))
    history = History()
    if state.get("history") is not None:
        history.load_state_dict(state["history"])

    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is not None:  # loaded into a copy first: a bad state changes nothing
            copy.deepcopy(target).load_state_dict(state[name])
    model.load_state_dict(state["model"])  # checks every entry before writing any
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is not None:
            target.load_state_dict(state[name])
    for generator, saved in generators:
        generator.bit_generator.state = saved
    saved = state.get("callbacks") or {}
    for key, callback in _keyed(callbacks):
        if key in saved and hasattr(callback, "load_state_dict"):
            _restore_callback(callback, key, saved[key], where)
    return int(state["epoch"]), history


# the JSON-like type of each part of a training state; None (not saved) is allowed for all
# but the model, and `config` is whatever the caller chose
_PART_TYPES = {"model": dict, "optimizer": dict, "scheduler": dict, "rng": dict,
               "loader_rng": dict, "history": dict, "callbacks": dict}


def read_training_state(checkpoint) -> dict:
    """The checkpoint as a dict (loading it if it is a path), checked to be a training state:
    its format and version, and the type of each part (ValueError naming the part)."""
    if isinstance(checkpoint, (str, os.PathLike)):
        state = load(checkpoint)
    else:
        state = checkpoint
    where = _describe(checkpoint)
    if not (isinstance(state, dict) and state.get("format") == FORMAT):
        raise ValueError(f"{where} is not a training checkpoint (one written by "
                         f"minidl.train.Checkpoint, training_state or `minidl train`)")
    if state.get("version") != VERSION:
        raise ValueError(f"{where}: training checkpoint version {state.get('version')!r} is "
                         f"not supported (expected {VERSION})")
    for key in ("epoch", "model"):
        if key not in state:
            raise ValueError(f"{where}: the training checkpoint has no {key!r}")
    epoch = state["epoch"]
    if not isinstance(epoch, (int, np.integer)) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"{where}: expected 'epoch' to be an integer >= 0, got {epoch!r}")
    for key, expected in _PART_TYPES.items():
        value = state.get(key)
        if not isinstance(value, expected) and (value is not None or key == "model"):
            raise ValueError(f"{where}: expected {key!r} to be a {expected.__name__}"
                             + (" or None" if key != "model" else "")
                             + f", got {type(value).__name__}")
    return state


def _check_generator_state(generator: np.random.Generator, saved, where: str,
                           key: str) -> None:
    """Try `saved` on a scratch bit generator of the same kind, so that a malformed state
    fails before anything is restored."""
    kind = type(generator.bit_generator)
    try:
        kind().state = saved
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: {key!r} is not a valid {kind.__name__} state "
                         f"({error!r})") from None


def _restore_callback(callback, key: str, saved, where: str) -> None:
    try:
        callback.load_state_dict(saved)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{where}: the saved state of callback {key} is malformed "
                         f"({error!r})") from None


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

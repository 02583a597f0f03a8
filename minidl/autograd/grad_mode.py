"""Whether operations record the graph: no_grad, inference_mode, set_grad_enabled."""
from __future__ import annotations

import functools
import inspect
import threading

import numpy as np


class _GradMode(threading.local):
    """Whether operations record the graph, kept per thread as in PyTorch: one thread
    evaluating under no_grad does not switch recording off for another that trains, and a
    new thread starts with recording on."""

    def __init__(self):  # runs once in each thread, at its first use of the mode
        self.enabled = True
        # the mode each context entered in this thread found, innermost last: the same no_grad
        # object may be entered twice (nested, or by two threads), so it cannot keep it itself
        self.saved = []


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """Whether operations in this thread record the graph."""
    return _grad_mode.enabled


class _ModeContext:
    """A context manager and decorator that sets the grad mode to `recording` in this thread
    while it is active, and gives back the mode it found when it ends."""

    recording = False

    def __enter__(self):
        _grad_mode.saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self.recording
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = _grad_mode.saved.pop()
        return False

    def __call__(self, function):
        if inspect.isgeneratorfunction(function):
            return _generator_in_mode(function, self._fresh)

        @functools.wraps(function)
        def in_mode(*args, **kwargs):
            with self._fresh():
                return function(*args, **kwargs)
        return in_mode

    def _fresh(self):
        """A new context of the same mode (one per call of a decorated function)."""
        raise NotImplementedError


class no_grad(_ModeContext):
    """Context manager (and decorator) in which operations record no graph, in this thread.

    Example:
        >>> with minidl.no_grad():
        ...     predictions = model(images)
        >>> @minidl.no_grad          # or @minidl.no_grad()
        ... def predict(images):
        ...     return model(images)
    """

    def __new__(cls, function=None):
        if function is None:
            return super().__new__(cls)
        if not callable(function):
            raise TypeError(f"no_grad: expected no argument, or a function to decorate, got "
                            f"{function!r}")
        return cls()(function)  # @no_grad without parentheses

    def _fresh(self):
        return no_grad()


class inference_mode(_ModeContext):
    """As no_grad (context manager and decorator): inference_mode() or inference_mode(True)
    records no graph; inference_mode(False) records it, as PyTorch's.

    minidl has no separate "inference tensors": results computed in inference mode are
    ordinary tensors without a graph, exactly as under no_grad (PyTorch additionally refuses
    to use them in a later autograd graph, and skips version counting for them).

    Example:
        >>> with minidl.inference_mode():
        ...     predictions = model(images)
    """

    def __new__(cls, mode=True):
        if isinstance(mode, (bool, np.bool_)):
            return super().__new__(cls)
        if not callable(mode):
            raise TypeError(f"inference_mode: expected mode True or False, or a function to "
                            f"decorate, got {mode!r}")
        return cls()(mode)  # @inference_mode without parentheses

    def __init__(self, mode=True):
        self.mode = bool(mode)
        self.recording = not self.mode

    def _fresh(self):
        return inference_mode(self.mode)


def _generator_in_mode(function, make_context):
    """A decorator's mode for a generator function, whose body runs while it is iterated, not
    when it is called: each step of the generator runs in the mode, and the caller has its
    own mode between steps (PyTorch's rule)."""
    @functools.wraps(function)
    def in_mode(*args, **kwargs):
        generator = function(*args, **kwargs)
        try:
            with make_context():
                response = generator.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_context():
                        generator.close()
                    raise
                except BaseException as error:  # thrown in by the caller: pass it on
                    with make_context():
                        response = generator.throw(error)
                else:
                    with make_context():
                        response = generator.send(request)
        except StopIteration as stop:
            return stop.value
    return in_mode


class set_grad_enabled:
    """Switch recording on (True) or off (False) in this thread, as PyTorch's.

    Called as a function, the mode stays until switched again; used as a context manager, the
    mode this call found comes back when the block ends.

    Example:
        >>> with minidl.set_grad_enabled(is_training):
        ...     loss = loss_fn(model(images), labels)
    """

    def __init__(self, mode: bool):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: expected mode True or False, got {mode!r}")
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self._previous
        return False

"""Grad mode is per thread (as in PyTorch): no_grad in one thread never switches recording off
in another, a new thread starts with recording on, and the same no_grad object may be entered
twice (nested or by two threads at once)."""
import threading

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import models, optim


def _run_in_threads(*targets):
    """Run each target in its own thread; re-raise the first exception one of them raised."""
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # noqa: BLE001 (reported in the main thread)
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


def _interleave_two_no_grads(first, second):
    """Thread A enters `first`, thread B enters `second`, A exits, B exits, in that order
    (each step waits on a barrier). Returns what each thread saw at each step."""
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def thread_a():
        first.__enter__()
        barrier.wait()  # 1: A is inside
        barrier.wait()  # 2: B is inside
        seen["a inside, b inside"] = minidl.is_grad_enabled()
        first.__exit__(None, None, None)
        seen["a after exit"] = minidl.is_grad_enabled()
        barrier.wait()  # 3: A has left

    def thread_b():
        barrier.wait()  # 1
        second.__enter__()
        barrier.wait()  # 2
        barrier.wait()  # 3
        seen["b inside, a gone"] = minidl.is_grad_enabled()
        second.__exit__(None, None, None)
        seen["b after exit"] = minidl.is_grad_enabled()

    _run_in_threads(thread_a, thread_b)
    return seen


@pytest.mark.parametrize("same_object", [False, True], ids=["two_objects", "one_object"])
def test_interleaved_no_grad_in_two_threads_leaves_grad_mode_on(same_object):
    # with one process-wide mode, B saved A's "off" on entry and restored it on exit: recording
    # stayed off for the whole process
    first = minidl.no_grad()
    second = first if same_object else minidl.no_grad()
    seen = _interleave_two_no_grads(first, second)
    assert seen == {"a inside, b inside": False, "a after exit": True,
                    "b inside, a gone": False, "b after exit": True}
    assert minidl.is_grad_enabled()
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    assert (x * 2.0).requires_grad


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with minidl.no_grad():
        _run_in_threads(lambda: seen.append(minidl.is_grad_enabled()))
        assert not minidl.is_grad_enabled()
    assert seen == [True]


def _training_step_factory():
    minidl.manual_seed(0)
    model = models.mlp_bn(in_features=20, hidden=16, num_classes=4)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    images = minidl.tensor(rng.random((32, 20), dtype=np.float32))
    labels = rng.integers(0, 4, 32)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()  # raised "does not require grad" when the other thread's no_grad leaked
        optimizer.step()
        return loss.item()
    return model, step


def test_training_thread_and_no_grad_thread_run_side_by_side():
    model, train_step = _training_step_factory()
    evaluated = minidl.models.mlp_bn(in_features=20, hidden=16, num_classes=4).eval()
    inputs = minidl.tensor(np.random.default_rng(1).random((32, 20), dtype=np.float32))
    losses, predictions = [], []
    steps = 300

    def train():
        for _ in range(steps):
            losses.append(train_step())

    def evaluate():
        for _ in range(steps):
            with minidl.no_grad():
                output = evaluated(inputs)
                assert not minidl.is_grad_enabled()
            assert not output.requires_grad
            predictions.append(output)

    _run_in_threads(train, evaluate)
    assert len(losses) == steps and len(predictions) == steps
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert minidl.is_grad_enabled()


def test_the_same_no_grad_object_nested_restores_each_level():
    # the object kept one saved mode: the inner entry overwrote the outer's, and grad stayed off
    guard = minidl.no_grad()
    with guard:
        with guard:
            assert not minidl.is_grad_enabled()
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with minidl.no_grad():
            1 / 0
    assert minidl.is_grad_enabled()


def test_no_grad_as_decorator_with_and_without_parentheses_in_threads():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)

    @minidl.no_grad
    def doubled(t):
        return t * 2.0

    @minidl.no_grad()
    def tripled(t):
        assert not minidl.is_grad_enabled()
        return t * 3.0

    assert doubled.__name__ == "doubled"
    results = []
    _run_in_threads(lambda: results.append(doubled(x)), lambda: results.append(tripled(x)))
    assert [r.requires_grad for r in results] == [False, False]
    assert minidl.is_grad_enabled() and (x * 2.0).requires_grad
    with pytest.raises(TypeError, match="no_grad: expected no argument"):
        minidl.no_grad(3)


def test_set_grad_enabled_as_function_and_context_manager():
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)
    with minidl.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
        with minidl.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    try:
        minidl.set_grad_enabled(False)
        assert not minidl.is_grad_enabled()
        seen = []
        _run_in_threads(lambda: seen.append(minidl.is_grad_enabled()))
        assert seen == [True]  # only this thread switched
    finally:
        minidl.set_grad_enabled(True)
    assert minidl.is_grad_enabled()
    with pytest.raises(TypeError, match="expected mode True or False"):
        minidl.set_grad_enabled("no")
    assert minidl.is_grad_enabled()


def test_no_grad_decorating_a_generator_covers_its_body_not_the_caller():
    # the body of a generator runs while it is iterated, after the decorator's `with` ended:
    # its outputs used to record graphs
    x = minidl.tensor(np.ones(2, np.float32), requires_grad=True)

    @minidl.no_grad
    def predictions(count):
        for _ in range(count):
            received = yield x * 2.0
            assert not minidl.is_grad_enabled() and received in (None, "sent")
        return "finished"

    generator = predictions(3)
    outputs = [next(generator)]
    assert minidl.is_grad_enabled() and (x * 2.0).requires_grad  # the caller's own mode
    outputs.append(generator.send("sent"))
    outputs.extend(generator)
    assert [output.requires_grad for output in outputs] == [False, False, False]
    assert minidl.is_grad_enabled()

    @minidl.no_grad()
    def forever():
        try:
            while True:
                yield x * 2.0
        finally:
            assert not minidl.is_grad_enabled()  # cleanup runs under no_grad too

    endless = forever()
    assert not next(endless).requires_grad
    with pytest.raises(KeyError):
        endless.throw(KeyError("passed on"))
    closed = forever()
    next(closed)
    closed.close()
    assert minidl.is_grad_enabled()

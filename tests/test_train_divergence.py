"""fit when training goes wrong: a diverged step is undone (buffers included), a loss that
explodes while staying finite and a run that ends at chance are warned about, and `minidl
train` exits non-zero for a divergence.

The runs are a tiny BatchNorm MLP on a few hundred bundled MNIST digits, and a one-epoch
`minidl train` of the BN MLP on the bundled sample (79 steps): a few seconds in all.
"""
import contextlib
import io
import json
import os
import warnings

import numba
import numpy as np
import pytest

import minidl
from minidl import cli, nn
from minidl.autograd.engine import Node
from minidl.data import MNIST, ArrayDataset, DataLoader, transforms
from minidl.train import (Checkpoint, DivergenceWarning, History, NotLearningWarning,
                          TrainingDiverged, fit)
from minidl.train.divergence import (EXPLOSION_WINDOW, NOT_LEARNING_MIN_STEPS, BufferSnapshot,
                                     find_chance_accuracy, find_loss_explosion, start_loss)

# the JIT-disabled CI run interprets Numba kernels as Python: use the NumPy references there
KERNELS = "numpy" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "numba"


@pytest.fixture(autouse=True)
def kernels():
    with minidl.use_kernels(KERNELS):
        yield KERNELS


@pytest.fixture(scope="module")
def digits():
    """417 training digits (every 12th of the bundled sample), normalised floats."""
    to_input = transforms.Compose([transforms.ToFloat(), transforms.Normalize([0.1307],
                                                                              [0.3081])])
    train = MNIST(train=True)
    return ArrayDataset(train.data[::12], train.targets[::12], to_input)


def bn_mlp(seed=0) -> nn.Sequential:
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Linear(32, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


OPTIMIZERS = {
    "sgd-momentum": lambda params: minidl.optim.SGD(params, lr=0.1, momentum=0.9,
                                                    weight_decay=1e-4),
    "adam": lambda params: minidl.optim.Adam(params, lr=1e-3),
}


def batches_of(digits, count, size=50):
    images = np.stack([digits[i][0] for i in range(count * size)])
    labels = np.asarray(digits.targets[:count * size])
    return [(images[i:i + size], labels[i:i + size]) for i in range(0, count * size, size)]


def as_tensors(batches):
    return [(minidl.tensor(images), labels) for images, labels in batches]


def copy_state(value):
    """A deep copy of a state_dict-like structure (arrays copied)."""
    if isinstance(value, dict):
        return {key: copy_state(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(copy_state(item) for item in value)
    if hasattr(value, "data") and isinstance(value.data, np.ndarray):  # a Tensor
        return np.array(value.data, copy=True)
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    return value


def assert_bitwise_equal(actual, expected, where="state"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            assert_bitwise_equal(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_bitwise_equal(a, e, f"{where}[{index}]")
    elif isinstance(expected, np.ndarray):
        actual = np.asarray(actual)
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), where
        assert actual.tobytes() == expected.tobytes(), f"{where} changed"
    else:
        assert actual == expected or (actual != actual and expected != expected), where


def model_state(model):
    return copy_state(dict(model.state_dict()))


# ============================ a diverged step is undone, buffers too ============================
@pytest.mark.parametrize("optimizer_name", sorted(OPTIMIZERS))
def test_nan_batch_leaves_model_buffers_and_optimizer_bitwise_unchanged(digits, optimizer_name):
    good = as_tensors(batches_of(digits, 2))
    bad_images = good[1][0].data.copy()
    bad_images[7, 0, 3, 4] = np.nan
    batches = good[:1] + [(minidl.tensor(bad_images), good[1][1])]
    model = bn_mlp()
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())
    # the state after the good first step: what the failing second step must leave
    fit(model, nn.CrossEntropyLoss(), optimizer, batches[:1], 1, progress="none")
    before_model, before_optimizer = model_state(model), copy_state(optimizer.state_dict())
    assert before_model["2.num_batches_tracked"] == 1 and before_optimizer["state"]

    with pytest.raises(TrainingDiverged) as caught:
        fit(model, nn.CrossEntropyLoss(), optimizer, batches[1:], 1, progress="none")
    assert_bitwise_equal(model_state(model), before_model, "model")
    assert_bitwise_equal(copy_state(optimizer.state_dict()), before_optimizer, "optimizer")
    assert model[2].num_batches_tracked.data == 1 and model[5].num_batches_tracked.data == 1
    model.eval()
    with minidl.no_grad():
        assert np.isfinite(model(good[0][0]).data).all()
    assert caught.value.bad_input and caught.value.reason == "the loss is nan"


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NumPy kernels
def test_the_message_says_what_state_is_kept_and_where_to_go_back(digits, tmp_path):
    """NaN at step 1 of epoch 2, after epoch 1 wrote a checkpoint."""
    good = as_tensors(batches_of(digits, 2))
    bad_images = good[0][0].data.copy()
    bad_images[0, 0, 0, 0] = np.inf

    class TwoEpochs:  # epoch 1: the good batches; epoch 2: a bad one first
        def __init__(self):
            self.epoch = 0

        def __len__(self):
            return 2

        def __iter__(self):
            self.epoch += 1
            first = good[0] if self.epoch == 1 else (minidl.tensor(bad_images), good[0][1])
            return iter([first, good[1]])

    model = bn_mlp()
    optimizer = OPTIMIZERS["sgd-momentum"](model.parameters())
    checkpoint = Checkpoint(tmp_path / "run", every=1)
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, nn.CrossEntropyLoss(), optimizer, TwoEpochs(), 2, callbacks=[checkpoint],
            progress="none")
    message = str(caught.value)
    assert "epoch 2, step 1 of 2" in message and "\n" not in message
    assert "this step was undone" in message
    assert "BatchNorm's running statistics" in message and "the optimizer" in message
    assert "as they were at the end of epoch 1" in message
    assert checkpoint.paths == [os.path.join(str(tmp_path / "run"), "epoch_001.safetensors")]
    assert f"resume={checkpoint.paths[0]!r}" in message
    # the model is the one the checkpoint holds: the state after epoch 1, buffers included
    saved = minidl.load(checkpoint.paths[0])["model"]
    assert_bitwise_equal(model_state(model), {key: np.asarray(value)
                                              for key, value in saved.items()}, "model")


class NaNGradient(Node):
    """The identity forward, a NaN gradient backward: a finite loss with a NaN gradient."""

    def forward(self, x):
        return x.copy()

    def backward(self, grad_output):
        return (np.full_like(grad_output, np.nan),)


def test_a_nan_gradient_with_a_finite_loss_also_leaves_the_buffers_unchanged(digits):
    batches = as_tensors(batches_of(digits, 2))
    model = bn_mlp()
    optimizer = OPTIMIZERS["adam"](model.parameters())
    fit(model, nn.CrossEntropyLoss(), optimizer, batches[:1], 1, progress="none")
    before_model, before_optimizer = model_state(model), copy_state(optimizer.state_dict())

    def loss_with_nan_gradient(outputs, targets):
        return nn.CrossEntropyLoss()(NaNGradient.apply(outputs), targets)

    with pytest.raises(TrainingDiverged) as caught:
        fit(model, loss_with_nan_gradient, optimizer, batches[1:], 1, progress="none")
    assert_bitwise_equal(model_state(model), before_model, "model")
    assert_bitwise_equal(copy_state(optimizer.state_dict()), before_optimizer, "optimizer")
    assert caught.value.reason.startswith("the gradient of 1.weight is not finite (loss ")
    assert "this step was undone" in str(caught.value)


def test_an_exception_in_the_step_also_undoes_the_buffer_updates(digits):
    batches = as_tensors(batches_of(digits, 2))
    model = bn_mlp()
    optimizer = OPTIMIZERS["sgd-momentum"](model.parameters())
    calls = []

    def loss_that_fails_the_second_time(outputs, targets):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the forward pass of step 2
        return nn.CrossEntropyLoss()(outputs, targets)

    fit(model, loss_that_fails_the_second_time, optimizer, batches[:1], 1, progress="none")
    before = model_state(model)
    with pytest.raises(KeyboardInterrupt):
        fit(model, loss_that_fails_the_second_time, optimizer, batches[1:], 1,
            progress="none")
    assert_bitwise_equal(model_state(model), before, "model")


def test_buffer_snapshot_follows_a_buffer_whose_array_was_replaced():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    snapshot = BufferSnapshot(model)
    model[1].running_mean.data = np.arange(4, dtype=np.float32)  # replaced, not updated
    snapshot.take()
    replaced = model[1].running_mean.data
    model(minidl.tensor(np.ones((5, 3), dtype=np.float32)))  # a training forward pass
    model[1].running_var.data = np.zeros(4, dtype=np.float32)  # and replaced during the step
    assert model[1].num_batches_tracked.data == 1
    snapshot.restore()
    assert model[1].running_mean.data is replaced
    np.testing.assert_array_equal(replaced, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(model[1].running_var.data, np.ones(4, dtype=np.float32))
    assert model[1].num_batches_tracked.data == 0 and snapshot.first_nonfinite() is None
    model[1].running_var.data[2] = np.inf
    assert snapshot.first_nonfinite() == "1.running_var"


def test_a_running_variance_that_overflows_with_a_finite_loss_is_a_divergence():
    """Inputs of 1e25 give a batch variance of 1e50: inf in float32, while the normalised
    output, the loss and every gradient stay finite."""
    minidl.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1)
    generator = np.random.default_rng(0)
    images = generator.normal(size=(8, 4)).astype(np.float32)
    images[:, 2] *= np.float32(1e25)
    batch = (minidl.tensor(images), generator.integers(0, 3, 8))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)  # NumPy
        with pytest.raises(TrainingDiverged, match=r"the buffer 0\.running_var became NaN or "
                                                   r"infinite .* every loss and gradient was "
                                                   r"finite"):
            fit(model, nn.CrossEntropyLoss(), optimizer, [batch], 1, progress="none")


# ================================ the loss-explosion rule ====================================
def history_of(step_losses, steps_per_epoch=None, first_batch_size=64, accuracy=None):
    history = History()
    steps_per_epoch = steps_per_epoch or [len(step_losses)]
    position = 0
    for epoch, count in enumerate(steps_per_epoch, start=1):
        history.append_epoch({"epoch": epoch, "train_loss": 1.0, "train_accuracy": accuracy},
                             step_losses[position:position + count])
        position += count
    history.start_loss = start_loss(list(step_losses), first_batch_size)
    return history


def test_start_loss_is_the_first_step_or_the_median_of_the_first_32_samples():
    losses = [2.3, 500.0, 0.1, 0.2, 9.0]
    assert start_loss(losses, 64) == 2.3 and start_loss(losses, 32) == 2.3
    assert start_loss(losses, 16) == pytest.approx((2.3 + 500.0) / 2)  # 2 steps hold 32
    assert start_loss(losses, 8) == pytest.approx((2.3 + 0.2) / 2)      # median of 4 steps


def test_explosion_rule_flags_a_sustained_tenfold_loss():
    losses = [2.3] + [30.0] * 9 + [1.0] * 5
    message = find_loss_explosion(history_of(losses), 10, since=0)
    assert message.startswith("the training loss exploded: its median over steps 1-10 of "
                              "epoch 1 is 30")
    assert "13 times the loss at the start (2.3" in message
    # a window across an epoch boundary
    history = history_of(losses, steps_per_epoch=[6, 9])
    assert "step 1 of epoch 1 to step 4 of epoch 2" in find_loss_explosion(history, 10, 0)
    # after an epoch, only the windows ending in it are examined (the others were before)
    history = history_of(losses + [1.0] * 15, steps_per_epoch=[20, 10])
    assert find_loss_explosion(history, 10, since=0) is not None
    assert find_loss_explosion(history, 10, since=20) is None


def test_explosion_rule_ignores_noise_spikes_and_small_batches():
    generator = np.random.default_rng(0)
    steps = np.arange(400)
    # a normal run: falling from 2.3, each step's loss scattered by a log-normal factor,
    # with 4 spikes of 40x within 10 steps (a bad batch or two, the first steps)
    losses = 2.3 * np.exp(-steps / 150) * generator.lognormal(0, 0.5, size=steps.size)
    losses[[1, 3, 5, 7]] *= 40
    assert find_loss_explosion(history_of(list(losses)), 10, since=0) is None
    # batches of one sample: losses that scatter by factors of 100, a start of 0.01
    noisy = list(generator.chisquare(1, size=400))
    noisy[0] = 0.01
    history = history_of(noisy, first_batch_size=1)
    assert history.start_loss > 0.1  # the median of the first 32 steps, not the lucky first
    assert find_loss_explosion(history, 10, since=0) is None
    # no scale to compare with: a start loss of 0 or below is not judged
    assert find_loss_explosion(history_of([0.0] + [5.0] * 20), 10, 0) is None
    assert find_loss_explosion(history_of([-1.0] + [5.0] * 20), 10, 0) is None
    # fewer steps than a window: not judged
    assert find_loss_explosion(history_of([1.0] + [50.0] * (EXPLOSION_WINDOW - 2)), 10, 0) \
        is None


def test_chance_accuracy_rule():
    def verdict(accuracy, classes=10, steps=NOT_LEARNING_MIN_STEPS):
        return find_chance_accuracy(history_of([2.3] * steps, accuracy=accuracy), classes)

    assert "did not learn" in verdict(0.1) and "chance for 10 classes (0.1)" in verdict(0.1)
    assert verdict(0.12) is not None and verdict(0.125) is None
    assert verdict(0.52, classes=2) is not None and verdict(0.53, classes=2) is None
    assert verdict(0.1, steps=NOT_LEARNING_MIN_STEPS - 1) is None  # too short to judge
    assert verdict(None) is None and verdict(0.1, classes=None) is None


# =============================== fit warns, and records it ===================================
def one_bn_mlp() -> nn.Sequential:
    minidl.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Linear(32, 10))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy kernels
def test_a_huge_learning_rate_warns_that_the_loss_exploded(digits):
    """lr 100: the loss jumps to thousands and stays finite for this epoch (17 steps)."""
    model = one_bn_mlp()
    optimizer = minidl.optim.SGD(model.parameters(), lr=100, momentum=0.9)
    loader = DataLoader(digits, batch_size=25, shuffle=True, seed=0)
    with pytest.warns(DivergenceWarning, match=r"fit: the training loss exploded: .* times "
                                               r"the loss at the start .* lower the learning "
                                               r"rate \(e\.g\. to 10\)"):
        history = fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, progress="none")
    assert history.diverged.startswith("the training loss exploded")
    assert all(np.isfinite(history.step_loss)) and "diverged" in repr(history)
    # explosion_factor=None turns the rule off
    model = one_bn_mlp()
    optimizer = minidl.optim.SGD(model.parameters(), lr=100, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        history = fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, progress="none",
                      explosion_factor=None)
    assert history.diverged is None


def test_explosion_factor_is_checked(digits):
    model = bn_mlp()
    optimizer = OPTIMIZERS["adam"](model.parameters())
    for bad in (1, 0.5, float("nan")):
        with pytest.raises(ValueError, match="explosion_factor"):
            fit(model, nn.CrossEntropyLoss(), optimizer, [], 1, explosion_factor=bad)
    with pytest.raises(TypeError, match="explosion_factor"):
        fit(model, nn.CrossEntropyLoss(), optimizer, [], 1, explosion_factor="10")


def test_a_run_that_ends_at_chance_warns_that_it_did_not_learn(digits):
    model = bn_mlp()
    model[7].weight.data[...] = 0  # every output 0: the prediction is always class 0
    model[7].bias.data[...] = 0
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.0)
    loader = DataLoader(digits, batch_size=50)  # 9 steps per epoch
    short = fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, progress="none")
    assert short.not_learning is None  # 9 steps: too early to judge
    with pytest.warns(NotLearningWarning, match=r"fit: the model did not learn: its training "
                                                r"accuracy in epoch 6 is 0\.1007, chance for 10 "
                                                r"classes"):
        history = fit(model, nn.CrossEntropyLoss(), optimizer, loader, 6, progress="none")
    assert history.not_learning is not None and history.diverged is None


def test_normal_runs_do_not_warn(digits):
    generator = np.random.default_rng(0)
    regression = [(minidl.tensor(generator.normal(size=(1, 4)).astype(np.float32)),
                   minidl.tensor(generator.normal(size=(1, 1)).astype(np.float32)))
                  for _ in range(60)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, make in OPTIMIZERS.items():  # classification, batches of 50
            model = bn_mlp()
            history = fit(model, nn.CrossEntropyLoss(), make(model.parameters()),
                          DataLoader(digits, batch_size=50, shuffle=True, seed=0), 6,
                          progress="none")
            assert history.diverged is None and history.not_learning is None, name
        minidl.manual_seed(0)  # regression with batches of one: losses scatter widely
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        history = fit(model, nn.MSELoss(), minidl.optim.SGD(model.parameters(), lr=0.01),
                      regression, 3, progress="none")
        assert history.diverged is None and history.not_learning is None


def test_verdicts_and_start_loss_round_trip_through_a_checkpoint(tmp_path):
    history = history_of([2.3] + [30.0] * 60, accuracy=0.1)
    history.diverged = find_loss_explosion(history, 10, 0)
    history.not_learning = find_chance_accuracy(history, 10)
    minidl.save(history.state_dict(), tmp_path / "history.safetensors")
    loaded = History.from_state_dict(minidl.load(tmp_path / "history.safetensors"))
    assert (loaded.start_loss, loaded.diverged, loaded.not_learning) == \
        (history.start_loss, history.diverged, history.not_learning)
    older = history.state_dict()  # a checkpoint written before these were recorded
    for key in ("start_loss", "diverged", "not_learning"):
        del older[key]
    loaded = History.from_state_dict(older)
    assert (loaded.start_loss, loaded.diverged, loaded.not_learning) == (None, None, None)


# ===================================== minidl train ==========================================
def run_train(*options, tmp_path=None):
    """`minidl train` of the BN MLP for one epoch (79 steps) in this process:
    (status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    arguments = ["train", "--epochs", "1", "--model", "mlp-bn", "--kernels", KERNELS,
                 "--threads", "1", "--progress", "none", *options]
    if tmp_path is not None:
        arguments += ["--output-dir", str(tmp_path / "out")]
    threads = numba.get_num_threads()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)  # NumPy
        status = cli.main(arguments)
    assert numba.get_num_threads() == threads
    return status, stdout.getvalue(), stderr.getvalue()


def test_minidl_train_with_a_huge_learning_rate_exits_1_with_one_line(tmp_path):
    status, output, error = run_train("--lr", "100", tmp_path=tmp_path)
    assert status == 1
    assert error.count("\n") == 1, error
    assert error.startswith("minidl train: error: training diverged: the training loss "
                            "exploded: ")
    assert "try a lower --lr (this run used 100, e.g. --lr 10)" in error
    assert output.strip().splitlines()[-1].startswith("test accuracy: ")  # still evaluated
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["diverged"].startswith("the training loss exploded")


def test_minidl_train_normal_run_exits_0_and_says_nothing_on_stderr():
    status, output, error = run_train()
    assert status == 0 and error == ""
    assert output.strip().splitlines()[-1].startswith("test accuracy: ")


def test_minidl_train_nan_loss_exits_1_with_one_line(monkeypatch):
    """A NaN loss (TrainingDiverged inside fit) is one line with the --lr hint too."""
    def nan_loss(outputs, targets):
        loss = nn.CrossEntropyLoss()(outputs, targets)
        return loss * float("nan")

    monkeypatch.setattr(cli, "CrossEntropyLoss", lambda: nan_loss)
    status, _, error = run_train("--lr", "0.5")
    assert status == 1 and error.count("\n") == 1, error
    assert error == ("minidl train: error: training diverged at epoch 1, step 1: the loss is "
                     "nan; try a lower --lr (this run used 0.5, e.g. --lr 0.05)\n")

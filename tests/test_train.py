"""minidl.train: fit, evaluate, History, callbacks, progress, divergence, checkpoints, resume.

Everything runs on a tiny MLP and a few hundred bundled MNIST digits, so the whole file takes
a few seconds. The resume test compares weights bit for bit: it runs with one Numba thread
(numba.set_num_threads(1), restored afterwards), so no kernel's work is split differently
between the runs it compares.
"""
import csv
import io
import math
import os
import sys

import numba
import numpy as np
import pytest

import minidl
from minidl import nn, models
from minidl.data import MNIST, ArrayDataset, DataLoader, transforms
from minidl.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from minidl.train import (BestWeights, Checkpoint, EarlyStopping, History,
                          TrainingDiverged, evaluate, fit, restore_training_state,
                          training_state)
from minidl.train.progress import LineProgress, make_progress


@pytest.fixture(autouse=True)
def kernels():
    # With NUMBA_DISABLE_JIT=1 (CI's second run) the Numba kernels run as interpreted Python;
    # their logic is checked elsewhere, so these loop tests use the NumPy references there.
    name = "numpy" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "numba"
    with minidl.use_kernels(name):
        yield name


@pytest.fixture(scope="module")
def digits():
    """(train, val): 417 training digits (every 12th of the bundled sample, all classes) and
    200 test digits, normalised floats."""
    to_input = transforms.Compose([transforms.ToFloat(), transforms.Normalize([0.1307],
                                                                              [0.3081])])
    train, test = MNIST(train=True), MNIST(train=False)
    return (ArrayDataset(train.data[::12], train.targets[::12], to_input),
            ArrayDataset(test.data[:200], test.targets[:200], to_input))


def tiny_mlp(dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(32, 10))


def setup(digits, seed=0, lr=0.1, dropout=0.0, batch_size=50):
    """A fresh model, optimizer, StepLR and loaders, all seeded."""
    minidl.manual_seed(seed)
    model = tiny_mlp(dropout)
    optimizer = minidl.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    train, val = digits
    return (model, optimizer, DataLoader(train, batch_size, shuffle=True, seed=seed),
            DataLoader(val, batch_size=64))


def weights(model) -> dict:
    return {name: tensor.data.copy() for name, tensor in model.state_dict().items()}


def quiet(**kwargs):
    return dict(progress="none", **kwargs)


# ===================================== fit and History ======================================
def test_fit_records_history(digits):
    model, optimizer, train_loader, val_loader = setup(digits)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 3,
                  val_loader=val_loader, scheduler=scheduler, **quiet())
    steps = len(train_loader)
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    assert history["lr"] == [0.1, 0.05, 0.025]  # the rate used in each epoch
    assert history.steps_per_epoch == [steps] * 3 and len(history.step_loss) == 3 * steps
    assert all(math.isfinite(loss) for loss in history.step_loss)
    assert history["train_loss"][2] < history["train_loss"][0]
    for column in ("train_accuracy", "val_accuracy"):
        assert all(0 <= value <= 1 for value in history[column])
    assert history["val_accuracy"][-1] > 0.6
    assert all(seconds > 0 for seconds in history["seconds"])
    # the last epoch's validation numbers are what evaluate says about the final model
    assert evaluate(model, val_loader, nn.CrossEntropyLoss()) == (
        history["val_loss"][-1], history["val_accuracy"][-1])
    assert history.best("val_accuracy")["val_accuracy"] == max(history["val_accuracy"])
    assert "3 epochs" in repr(history)
    assert model.training


def test_train_loss_weights_a_smaller_last_batch(digits):
    model, optimizer, _, _ = setup(digits, lr=0.0)  # lr 0: the loss is that of fixed weights
    train, _ = digits
    loader = DataLoader(train, batch_size=100)  # 417 = 4 x 100 + 17
    history = fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, **quiet())
    sizes = [100, 100, 100, 100, 17]
    expected = sum(s * loss for s, loss in zip(sizes, history.step_loss)) / 417
    assert history["train_loss"][0] == pytest.approx(expected, rel=1e-12)


def test_evaluate_uses_eval_mode_no_grad_and_restores_modes(digits):
    model, _, _, val_loader = setup(digits, dropout=0.5)
    model.train()
    model[1].eval()  # a mixed state must come back exactly as it was
    before = [module.training for module in model.modules()]
    running_mean = model[2].running_mean.data.copy()
    first = evaluate(model, val_loader, nn.CrossEntropyLoss())
    assert [module.training for module in model.modules()] == before
    np.testing.assert_array_equal(model[2].running_mean.data, running_mean)  # eval-mode BN
    assert all(param.grad is None for param in model.parameters())
    assert evaluate(model, val_loader, nn.CrossEntropyLoss()) == first  # dropout was off
    # loss: the mean over samples, a 200 = 64 + 64 + 64 + 8 split weighted by batch size
    model.eval()
    with minidl.no_grad():
        images = minidl.tensor(np.concatenate([x.data for x, _ in val_loader]))
        labels = np.concatenate([y.data for _, y in val_loader])
        logits = model(images)
        loss = nn.CrossEntropyLoss()(logits, labels).item()
    assert first.loss == pytest.approx(loss, rel=1e-5)
    assert first.accuracy == np.mean(logits.data.argmax(1) == labels)
    model.eval()
    evaluate(model, val_loader)
    assert not any(module.training for module in model.modules())
    assert evaluate(model, val_loader).loss is None


def test_fit_rejects_bad_arguments(digits):
    model, optimizer, train_loader, _ = setup(digits)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(model, loss, optimizer, train_loader, 0)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        fit(model, "cross-entropy", optimizer, train_loader, 1)
    with pytest.raises(TypeError, match="expected an optimizer"):
        fit(model, loss, object(), train_loader, 1)
    with pytest.raises(ValueError, match="progress must be one of"):
        fit(model, loss, optimizer, train_loader, 1, progress="fancy")
    with pytest.raises(ValueError, match="needs validation data"):
        fit(model, loss, optimizer, train_loader, 1, callbacks=[BestWeights("val_accuracy")],
            **quiet())


def test_plateau_scheduler_gets_the_validation_loss_else_the_training_loss(digits):
    class Recording(ReduceLROnPlateau):
        def step(self, metrics):
            self.seen.append(metrics)
            super().step(metrics)

    for with_val in (True, False):
        model, optimizer, train_loader, val_loader = setup(digits)
        scheduler = Recording(optimizer)
        scheduler.seen = []
        history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 2,
                      val_loader=val_loader if with_val else None, scheduler=scheduler,
                      **quiet())
        assert scheduler.seen == history["val_loss" if with_val else "train_loss"]


# ======================================== progress ==========================================
def test_plain_progress_lines_without_carriage_returns(digits):
    model, optimizer, train_loader, val_loader = setup(digits)
    stream = io.StringIO()  # not a terminal: plain lines even if tqdm is installed
    fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 2, val_loader=val_loader,
        file=stream)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  loss ") and "val accuracy" in lines[0]
    assert "lr 0.1" in lines[1]

    stream = io.StringIO()
    steps = len(train_loader)  # 9
    fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 1, log_every=4, file=stream)
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines[:2]] == [f"step 4/{steps}", f"step 8/{steps}"]
    assert len(lines) == 3 and "\r" not in stream.getvalue()


def test_progress_modes():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    try:
        import tqdm  # noqa: F401
        has_tqdm = True
    except ImportError:
        has_tqdm = False
    reporter = make_progress("auto", Terminal())
    assert type(reporter).__name__ == ("BarProgress" if has_tqdm else "LineProgress")
    assert isinstance(make_progress("lines", Terminal()), LineProgress)
    assert type(make_progress(False)).__name__ == "SilentProgress"
    if not has_tqdm:
        with pytest.raises(ImportError, match=r"pip install minidl\[progress\]"):
            make_progress("bar", io.StringIO())


# ======================================== divergence ========================================
def regression_batches(count=10):
    generator = np.random.default_rng(0)
    return [(minidl.tensor(generator.normal(size=(8, 4)).astype(np.float32)),
             minidl.tensor(generator.normal(size=(8, 1)).astype(np.float32)))
            for _ in range(count)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy kernels
def test_huge_learning_rate_stops_with_a_clear_message_before_the_weights_break():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = minidl.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, nn.MSELoss(), optimizer, regression_batches(), 3, **quiet())
    error = caught.value
    assert isinstance(error, RuntimeError)
    message = str(error)
    assert "epoch 1, step" in message and "learning rate 1e+06" in message
    assert "lower the learning rate" in message and "\n" not in message
    assert (error.epoch, error.lr) == (1, 1e6) and error.step > 1
    assert all(np.isfinite(param.data).all() for param in model.parameters())


def test_nan_input_stops_before_backward(digits):
    train, _ = digits
    images = np.stack([train[i][0] for i in range(100)])
    images[60, 0, 5, 5] = np.nan  # in the second batch of 50
    batches = [(minidl.tensor(images[i:i + 50]), train.targets[i:i + 50]) for i in (0, 50)]
    loss_fn = nn.CrossEntropyLoss()
    reference, reference_optimizer, _, _ = setup(digits)
    fit(reference, loss_fn, reference_optimizer, batches[:1], 1, **quiet())  # the good step
    model, optimizer, _, _ = setup(digits)  # the same initial weights
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 2 of 2 \(learning rate 0.1\): "
                                               r"the loss is nan.*input batch itself contains "
                                               r"NaN"):
        fit(model, loss_fn, optimizer, batches, 1, **quiet())
    expected = dict(reference.named_parameters())
    for name, param in model.named_parameters():  # only the first step was applied
        np.testing.assert_array_equal(param.data, expected[name].data)
        assert np.isfinite(param.data).all()


# ======================================== callbacks =========================================
class FakeRun:
    """What a callback sees, with a History of chosen values."""

    def __init__(self):
        self.history, self.epoch, self.stop_training, self.lines = History(), 0, False, []
        self.val_loader = object()

    def log(self, text):
        self.lines.append(text)

    def add(self, **record):
        self.epoch += 1
        self.history.append_epoch({"epoch": self.epoch, **record}, [])


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stopper = EarlyStopping("val_loss", patience=3, min_delta=0.01)
    run = FakeRun()
    stopper.on_train_begin(run)
    for loss in [1.0, 0.5, 0.6, 0.495, 0.55]:  # 0.495 is not better by more than 0.01
        assert not run.stop_training
        run.add(val_loss=loss)
        stopper.on_epoch_end(run)
    assert run.stop_training and stopper.stopped_epoch == 5
    assert (stopper.best, stopper.best_epoch) == (0.5, 2)
    assert run.lines == ["early stopping after epoch 5: val_loss has not improved for 3 epochs "
                         "(best 0.5000 at epoch 2)"]
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="monitor must be one of"):
        EarlyStopping("val_acc")


def test_early_stopping_in_fit_stops_at_the_right_epoch(digits):
    model, optimizer, train_loader, val_loader = setup(digits)
    # mode='max' on a falling validation loss: its first epoch stays "best"
    stopper = EarlyStopping("val_loss", mode="max", patience=2)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 10,
                  val_loader=val_loader, callbacks=[stopper], **quiet())
    losses, best, best_epoch = history["val_loss"], -math.inf, None
    for epoch, loss in enumerate(losses, start=1):  # the rule, applied to what was recorded
        if loss > best:
            best, best_epoch = loss, epoch
        if epoch - best_epoch >= 2:
            break
    assert len(history) == epoch == stopper.stopped_epoch < 10


def test_best_weights_are_restored_at_the_end(digits):
    model, optimizer, train_loader, val_loader = setup(digits)
    loss_fn = nn.CrossEntropyLoss()
    # mode='max' on the loss: the worst epoch (the first) is kept, so it is not the last one
    keeper = BestWeights("val_loss", mode="max")
    stream = io.StringIO()
    history = fit(model, loss_fn, optimizer, train_loader, 3, val_loader=val_loader,
                  callbacks=[keeper], progress="lines", file=stream)
    best = history.best("val_loss", mode="max")
    assert keeper.best_epoch == best["epoch"] != 3
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, keeper.best_weights[name])
    assert evaluate(model, val_loader, loss_fn) == (best["val_loss"], best["val_accuracy"])
    assert f"restored the weights of epoch {best['epoch']}" in stream.getvalue()
    # a copy, not a view: training on does not change it
    saved = {name: value.copy() for name, value in keeper.best_weights.items()}
    fit(model, loss_fn, optimizer, train_loader, 1, **quiet())
    for name, value in saved.items():
        np.testing.assert_array_equal(keeper.best_weights[name], value)


def test_checkpoint_every_n_epochs_writes_files_minidl_load_reads(digits, tmp_path):
    model, optimizer, train_loader, val_loader = setup(digits)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    saver = Checkpoint(tmp_path / "run", every=2, config={"model": "tiny"})
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 5,
                  val_loader=val_loader, scheduler=scheduler,
                  callbacks=[saver, BestWeights()], **quiet())
    assert sorted(os.listdir(tmp_path / "run")) == ["epoch_002.safetensors",
                                                    "epoch_004.safetensors"]
    assert saver.paths == [str(tmp_path / "run" / f"epoch_00{k}.safetensors") for k in (2, 4)]
    state = minidl.load(saver.paths[-1])
    assert state["format"] == "minidl.training_state" and state["epoch"] == 4
    assert set(state["model"]) == set(model.state_dict())
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.025  # stepped after epoch 4
    assert state["scheduler"]["last_epoch"] == 4
    assert len(state["history"]["records"]) == 4
    assert state["history"]["records"][3]["val_loss"] == history["val_loss"][3]
    assert state["config"] == {"model": "tiny"}
    assert state["rng"]["bit_generator"] == "PCG64"
    assert state["loader_rng"]["bit_generator"] == "PCG64"
    assert "BestWeights" in state["callbacks"]  # saved after BestWeights had seen epoch 4
    assert state["callbacks"]["BestWeights"]["best"] == max(history["val_accuracy"][:4])


def test_restore_training_state_rejects_other_files(digits, tmp_path):
    model, optimizer, _, _ = setup(digits)
    path = tmp_path / "weights.safetensors"
    minidl.save(model.state_dict(), path)
    with pytest.raises(ValueError, match="is not a training checkpoint"):
        restore_training_state(path, model)
    state = training_state(tiny_mlp(), epoch=1)
    state["model"]["1.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="1.weight: expected shape"):
        restore_training_state(state, model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        restore_training_state(training_state(model, epoch=1), model, optimizer)


# ========================================= resume ===========================================
@pytest.fixture
def one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def test_resumed_training_equals_an_uninterrupted_run(digits, tmp_path, one_thread):
    """Stop after epoch 2 of 4, resume from the checkpoint: the same weights, bit for bit.
    Shuffling (the loader's generator), Dropout (minidl's generator), momentum buffers and
    StepLR all carry state across the interruption."""
    loss_fn = nn.CrossEntropyLoss()

    def run(epochs, directory, resume=None, seed=0):
        model, optimizer, train_loader, val_loader = setup(digits, seed=seed, dropout=0.3)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
        callbacks = [Checkpoint(directory, every=1), BestWeights(),
                     EarlyStopping("val_loss", patience=10)]
        history = fit(model, loss_fn, optimizer, train_loader, epochs, val_loader=val_loader,
                      scheduler=scheduler, callbacks=callbacks, resume=resume, **quiet())
        return model, history, callbacks

    whole, whole_history, whole_callbacks = run(4, tmp_path / "whole")
    run(2, tmp_path / "first")  # the interrupted run: stopped after epoch 2
    checkpoint = tmp_path / "first" / "epoch_002.safetensors"
    # resumed: objects built from another seed, so everything must come from the checkpoint
    resumed, history, callbacks = run(4, tmp_path / "second", resume=checkpoint, seed=7)

    for name, value in weights(whole).items():
        np.testing.assert_array_equal(weights(resumed)[name], value, err_msg=name)
    assert history.step_loss == whole_history.step_loss
    for column in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert history[column] == whole_history[column]
    assert callbacks[1].best_epoch == whole_callbacks[1].best_epoch
    assert callbacks[2].state_dict() == whole_callbacks[2].state_dict()
    assert sorted(os.listdir(tmp_path / "second")) == ["epoch_003.safetensors",
                                                       "epoch_004.safetensors"]


def test_resume_from_a_finished_run_trains_nothing(digits, tmp_path):
    model, optimizer, train_loader, _ = setup(digits)
    fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 1,
        callbacks=[Checkpoint(tmp_path)], **quiet())
    before = weights(model)
    stream = io.StringIO()
    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 1,
                  resume=tmp_path / "epoch_001.safetensors", progress="lines", file=stream)
    assert len(history) == 1 and "nothing left to train" in stream.getvalue()
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, before[name])


# ========================================= files ============================================
def trained_history(digits) -> History:
    model, optimizer, train_loader, val_loader = setup(digits)
    return fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, 2,
               val_loader=val_loader, **quiet())


def test_history_to_csv(digits, tmp_path):
    history = trained_history(digits)
    history.to_csv(tmp_path / "history.csv")
    with open(tmp_path / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                             "val_accuracy", "lr", "seconds"]
    assert len(rows) == 2
    for row, record in zip(rows, history.records):
        assert int(row["epoch"]) == record["epoch"]
        for key in ("train_loss", "val_accuracy", "lr", "seconds"):
            assert float(row[key]) == record[key]  # written with full precision
    history.to_csv(tmp_path / "steps.csv", steps=True)
    with open(tmp_path / "steps.csv", newline="") as file:
        steps = list(csv.DictReader(file))
    assert len(steps) == len(history.step_loss)
    assert [float(row["loss"]) for row in steps] == history.step_loss
    assert {row["epoch"] for row in steps} == {"1", "2"}
    # missing values are empty cells
    history.records[0]["val_loss"] = None
    history.to_csv(tmp_path / "missing.csv")
    with open(tmp_path / "missing.csv", newline="") as file:
        assert list(csv.DictReader(file))[0]["val_loss"] == ""


def test_history_state_round_trips_through_a_checkpoint_file(digits, tmp_path):
    history = trained_history(digits)
    minidl.save({"history": history.state_dict()}, tmp_path / "h.safetensors")
    loaded = History.from_state_dict(minidl.load(tmp_path / "h.safetensors")["history"])
    assert loaded.records == history.records and loaded.step_loss == history.step_loss
    assert loaded.steps_per_epoch == history.steps_per_epoch


def test_history_plot_writes_a_png(digits, tmp_path):
    pytest.importorskip("matplotlib")
    history = trained_history(digits)
    history.plot(tmp_path / "curves.png", title="tiny")
    with open(tmp_path / "curves.png", "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_history_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import` raise ImportError
    history = History()
    history.append_epoch({"epoch": 1, "train_loss": 1.0}, [1.0])
    with pytest.raises(ImportError, match=r"pip install minidl\[plot\]"):
        history.plot(tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_named_models_shapes_and_keys():
    images = minidl.tensor(np.zeros((2, 1, 28, 28), np.float32))
    for name in models.names():
        model = models.get_model(name)
        model.eval()
        assert model(images).shape == (2, 10), name
    assert "1.weight" in models.mlp().state_dict()
    assert "2.running_mean" in models.mlp_bn().state_dict()
    cnn_bn = models.cnn_bn().state_dict()
    assert "0.bias" not in cnn_bn and "1.running_var" in cnn_bn and "9.weight" in cnn_bn
    assert "0.bias" in models.cnn().state_dict()
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.get_model("resnet")


@pytest.mark.parametrize("part", ["optimizer", "scheduler"])
def test_a_bad_optimizer_or_scheduler_state_leaves_the_model_as_it_was(part):
    """The optimizer's and scheduler's states are tried on copies before the model is loaded:
    a refused one leaves every part of the run as it was."""
    model = nn.Linear(4, 3)
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = StepLR(optimizer, step_size=2)
    state = training_state(model, optimizer, scheduler, epoch=1)
    state["model"] = {key: np.zeros_like(value) for key, value in state["model"].items()}
    if part == "optimizer":
        state["optimizer"]["param_groups"][0]["lr"] = -1.0
    else:
        state["scheduler"]["step_size"] = "two"
    before = {key: value.data.copy() for key, value in model.state_dict().items()}
    with pytest.raises((ValueError, TypeError)):
        restore_training_state(state, model, optimizer, scheduler)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.data, before[key])
    assert optimizer.param_groups[0]["lr"] == 0.1 and scheduler.step_size == 2

"""The end-to-end cases: models, data, one training step, in minidl and in PyTorch.

Each model is written once against an `nn` namespace (minidl.nn or torch.nn have the same
layers, names and state_dict keys), so both frameworks build the same architecture; PyTorch's
copy loads minidl's initial weights.

    (a) mlp, mlp-bn   Ioffe & Szegedy's MNIST net 784-100-100-100-10, sigmoid, without and with
                      BatchNorm1d before each sigmoid; batch 60; SGD lr 0.1 momentum 0.9
    (b) cnn-bn        conv3x3(16)-BN-ReLU-maxpool, conv3x3(32)-BN-ReLU-maxpool, linear, on
                      1x28x28; batch 64; SGD lr 0.01 momentum 0.9 weight decay 5e-4
    (c) resnet        stem conv3x3 3->16-BN-ReLU, two basic blocks at 16, one downsampling
                      block to 32 (1x1 projection shortcut), global average pool, linear 10,
                      on 3x32x32; batch 64; SGD lr 0.05 momentum 0.9 weight decay 5e-4

Also the entry points of the subprocess programs (peak memory, compile time): this module
imports neither framework at the top, so a minidl process never loads PyTorch and back.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import sys
import time

import numpy as np

CASES = ("mlp", "mlp-bn", "cnn-bn", "resnet")
CASE_TITLES = {
    "mlp": "(a) MLP 784-100-100-100-10 sigmoid, batch 60",
    "mlp-bn": "(a) MLP 784-100-100-100-10 BN+sigmoid, batch 60",
    "cnn-bn": "(b) CNN conv-BN-ReLU-pool x2 + linear, 1x28x28, batch 64",
    "resnet": "(c) ResNet basic blocks 16-16-32, 3x32x32, batch 64",
}
BATCH = {"mlp": 60, "mlp-bn": 60, "cnn-bn": 64, "resnet": 64}
INPUT = {"mlp": (784,), "mlp-bn": (784,), "cnn-bn": (1, 28, 28), "resnet": (3, 32, 32)}
SGD = {"mlp": dict(lr=0.1, momentum=0.9), "mlp-bn": dict(lr=0.1, momentum=0.9),
       "cnn-bn": dict(lr=0.01, momentum=0.9, weight_decay=5e-4),
       "resnet": dict(lr=0.05, momentum=0.9, weight_decay=5e-4)}
CLASSES = 10


# ----- architectures, written once for minidl.nn and torch.nn ---------------------------------

def mlp(nn, batch_norm: bool):
    layers = []
    for fan_in in (784, 100, 100):
        layers.append(nn.Linear(fan_in, 100))
        if batch_norm:
            layers.append(nn.BatchNorm1d(100))
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers, nn.Linear(100, CLASSES))


def cnn_bn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, CLASSES),
    )


@functools.lru_cache(maxsize=None)
def _resnet_classes(nn):
    class BasicBlock(nn.Module):
        """conv3x3-BN-ReLU-conv3x3-BN, plus the input (or its 1x1 projection), then ReLU."""

        def __init__(self, in_channels, channels, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1,
                                   bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            if stride != 1 or in_channels != channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(channels))
            else:
                self.downsample = None

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return self.relu(out + shortcut)

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU()
            self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
            self.layer2 = nn.Sequential(BasicBlock(16, 32, stride=2))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(32, CLASSES)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer2(self.layer1(x))
            return self.fc(self.flatten(self.avgpool(x)))

    return SmallResNet


def build(nn, case: str):
    if case == "mlp":
        return mlp(nn, batch_norm=False)
    if case == "mlp-bn":
        return mlp(nn, batch_norm=True)
    if case == "cnn-bn":
        return cnn_bn(nn)
    if case == "resnet":
        return _resnet_classes(nn)()
    raise ValueError(f"unknown case {case!r}; expected one of {CASES}")


# ----- data and weights -----------------------------------------------------------------------

def batch(case: str, seed: int = 0):
    """A fixed batch (inputs float32, targets int64)."""
    rng = np.random.default_rng(seed)
    shape = (BATCH[case],) + INPUT[case]
    if case.startswith("mlp"):
        x = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)  # pixels in [0, 1]
    else:
        x = rng.standard_normal(shape).astype(np.float32)  # normalised images
    y = rng.integers(0, CLASSES, size=BATCH[case]).astype(np.int64)
    return x, y


@functools.lru_cache(maxsize=None)
def initial_state(case: str, seed: int = 0) -> dict:
    """minidl's default initialisation of the case's model, as NumPy arrays by PyTorch key."""
    import minidl
    minidl.manual_seed(seed)
    model = build(minidl.nn, case)
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


# ----- one training step ----------------------------------------------------------------------

def minidl_step(case: str, kernels: str = "numba", state: dict | None = None):
    """(step, model): step() runs zero_grad, forward, cross-entropy, backward, SGD step on
    the fixed batch with the given kernel set and returns the loss (a float)."""
    import minidl
    model = build(minidl.nn, case)
    if state is not None:  # else: minidl's default initialisation
        model.load_state_dict(state)
    model.train()
    x, y = batch(case)
    inputs, targets = minidl.tensor(x), minidl.tensor(y)
    loss_function = minidl.nn.CrossEntropyLoss()
    optimizer = minidl.optim.SGD(model.parameters(), **SGD[case])

    def step():
        with minidl.use_kernels(kernels):
            optimizer.zero_grad()
            loss = loss_function(model(inputs), targets)
            loss.backward()
            optimizer.step()
        return loss.item()
    return step, model


def torch_step(case: str, state: dict | None = None):
    """The same step in PyTorch, from the same weights and batch."""
    import torch
    model = build(torch.nn, case)
    if state is not None:  # else: PyTorch's default initialisation
        model.load_state_dict({key: torch.from_numpy(np.array(value, copy=True))
                               for key, value in state.items()})
    model.train()
    x, y = batch(case)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    loss_function = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), **SGD[case])

    def step():
        optimizer.zero_grad()
        loss = loss_function(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step, model


def make_step(framework: str, case: str, state: dict | None = None):
    """framework: 'minidl' (Numba kernels), 'numpy' (minidl on the NumPy references) or
    'torch'. state: initial weights by PyTorch key (None: the framework's own init)."""
    if framework == "torch":
        return torch_step(case, state)[0]
    return minidl_step(case, "numba" if framework == "minidl" else "numpy", state)[0]


# ----- subprocess programs --------------------------------------------------------------------

def _memory_kb() -> dict:
    """VmRSS and VmHWM (peak) from /proc/self/status, and ru_maxrss, in KB."""
    values = {"ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, amount = line.split(":")
                    values[name + "_kb"] = int(amount.split()[0])
    except OSError:
        pass
    return values


def training_run(framework: str, case: str, steps: int, threads: int) -> dict:
    """Import the framework, build the case, train `steps` steps; memory and times as JSON.

    Run in a fresh process (`python -m benchmarks._models train ...`); the allocator and thread
    settings are those of the in-process benchmarks.
    """
    from . import _env
    _env.configure_allocator()
    start = time.perf_counter()
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import minidl
        minidl.set_num_threads(threads)
    after_import = _memory_kb()
    imported = time.perf_counter()
    step = make_step(framework, case)
    built = _memory_kb()
    losses = [step()]
    first_step = time.perf_counter()
    losses += [step() for _ in range(steps - 1)]
    end = time.perf_counter()
    return {"framework": framework, "case": case, "steps": steps, "threads": threads,
            "import_s": imported - start, "first_step_s": first_step - imported,
            "later_steps_s": end - first_step, "losses": [losses[0], losses[-1]],
            "rss_after_import": after_import, "rss_after_build": built, "end": _memory_kb()}


def compile_run(threads: int) -> dict:
    """Import minidl and take one training step and one eval forward of every end-to-end case;
    the times of each (with an empty cache: compilation; with a warm one: cache loading)."""
    from . import _env
    _env.configure_allocator()
    start = time.perf_counter()
    import minidl
    minidl.set_num_threads(threads)
    import numba
    times = {"import_s": time.perf_counter() - start}
    for case in CASES:
        begin = time.perf_counter()
        step, model = minidl_step(case, "numba")
        step()
        model.eval()
        with minidl.no_grad():
            model(minidl.tensor(batch(case)[0]))
        times[case + "_s"] = time.perf_counter() - begin
    times["kernels_s"] = sum(times[case + "_s"] for case in CASES)
    times["total_s"] = time.perf_counter() - start
    times["numba_cache_dir"] = numba.config.CACHE_DIR
    return times


def main(argv=None) -> None:
    """python -m benchmarks._models train FRAMEWORK CASE STEPS THREADS
       python -m benchmarks._models compile THREADS"""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        framework, case, steps, threads = argv[1], argv[2], int(argv[3]), int(argv[4])
        result = training_run(framework, case, steps, threads)
    elif argv[:1] == ["compile"]:
        result = compile_run(int(argv[1]))
    else:
        raise SystemExit(main.__doc__)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (thread pools): the numbers are out


if __name__ == "__main__":
    main()

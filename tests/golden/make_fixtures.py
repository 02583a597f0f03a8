"""Write the golden PyTorch fixtures that tests/test_parity_torch.py compares minidl against.

The parity tests do not need PyTorch: they load the .npz files written here. Only this script
does. To regenerate the fixtures (from the repository root):

    pip install torch==2.13.0
    python tests/golden/make_fixtures.py

Every input is drawn from a fixed seed, so a rerun with the same PyTorch and NumPy writes the
same numbers (bit for bit on the same machine; within float32 rounding elsewhere). Each file
keeps its arrays under "<case>/<name>" keys and, for each case, "<case>/config", a JSON string
saying how the case was built, which the tests read back.

    functional.npz   F.* forward and backward: linear, relu, leaky_relu, elu, sigmoid, tanh,
                     softmax, log_softmax, cross_entropy, mse_loss (input, upstream gradient,
                     output, gradients with respect to every input and parameter)
    batchnorm.npz    BatchNorm1d on (N, C) and (N, C, L), BatchNorm2d on (N, C, H, W):
                     three training steps then one eval step, for momentum 0.1, momentum None,
                     affine=False and track_running_stats=False; per step the output, the
                     input and parameter gradients and the running statistics
    mlp_data.npz     the MNIST batches (uint8 pixels, int64 labels) and the initial
                     state_dict of Ioffe & Szegedy's 784-100-100-100-10 BatchNorm/sigmoid MLP
    mlp_<case>.npz   for each SGD setting: the loss of each step, the final state_dict (as
                     the update final - initial, see make_mlp) and the eval-mode logits on a
                     held-out batch (in mlp_frozen the first Linear is frozen)

The MNIST images are a fixed random sample of ../shared/data/mnist/train5k-*.gz (real
MNIST digits, CC BY-SA 3.0), stored in mlp_data.npz so the tests need no data directory.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

TORCH_VERSION = "2.13.0"
HERE = Path(__file__).resolve().parent
MNIST_DIR = HERE.parents[2] / "shared" / "data" / "mnist"  # ../shared beside the repository

# Ioffe & Szegedy (2015), section 4.1: three fully connected hidden layers of 100 sigmoid units,
# each with Batch Normalization, trained on MNIST with mini-batches of 60 examples.
MLP_BATCH, MLP_STEPS = 60, 5
SGD_CASES = {
    "momentum": dict(lr=0.1, momentum=0.9),
    "nesterov": dict(lr=0.1, momentum=0.9, nesterov=True),
    "momentum_wd_dampening": dict(lr=0.1, momentum=0.9, weight_decay=5e-4, dampening=0.1),
    "plain": dict(lr=0.5),
    # the first Linear frozen (requires_grad_(False)): PyTorch leaves it out of every term of
    # the update, weight decay included, because its gradient stays None
    "frozen": dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
}


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def grad_of(tensor: torch.Tensor) -> np.ndarray:
    return as_numpy(tensor.grad)


def config(**entries) -> np.ndarray:
    return np.array(json.dumps(entries, sort_keys=True))


def save(name: str, arrays: dict) -> None:
    path = HERE / name
    np.savez_compressed(path, **arrays)
    print(f"wrote {path.relative_to(HERE.parent.parent)}: {len(arrays)} arrays, "
          f"{path.stat().st_size / 1024:.1f} KiB")


# ----- functional.npz ---------------------------------------------------------------------------
def with_exact_zeros(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put exact zeros in a few places: the subgradient at 0 is part of the convention
    (relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha in PyTorch)."""
    x = x.copy()
    x.flat[rng.choice(x.size, size=max(3, x.size // 10), replace=False)] = 0
    return x


def run_function(case: str, function, inputs: dict, kwargs: dict, rng, out: dict) -> None:
    """Forward `function(**inputs, **kwargs)` in PyTorch, backward with a random upstream
    gradient, and store inputs, upstream gradient, output and every input's gradient."""
    leaves = {}
    for name, array in inputs.items():
        floating = array.dtype.kind == "f"
        leaves[name] = torch.tensor(array, requires_grad=floating)
        out[f"{case}/{name}"] = array
    y = function(**leaves, **kwargs)
    upstream = np.asarray(rng.standard_normal(y.shape), dtype=np.float32)
    y.backward(torch.from_numpy(upstream))
    out[f"{case}/upstream"] = upstream
    out[f"{case}/output"] = as_numpy(y)
    for name, leaf in leaves.items():
        if leaf.requires_grad:
            out[f"{case}/grad_{name}"] = grad_of(leaf)


def make_functional() -> dict:
    rng = np.random.default_rng(20240501)
    out: dict = {}

    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    cases = []

    def add(case, op, function, inputs, **kwargs):
        cases.append(case)
        out[f"{case}/config"] = config(op=op, kwargs=kwargs, inputs=sorted(inputs))
        run_function(case, function, inputs, kwargs, rng, out)

    add("linear", "linear", F.linear,
        dict(input=randn(7, 5), weight=randn(4, 5, scale=0.5), bias=randn(4)))
    add("linear_3d", "linear", F.linear,
        dict(input=randn(2, 3, 6), weight=randn(5, 6, scale=0.5), bias=randn(5)))
    add("linear_no_bias", "linear", F.linear, dict(input=randn(6, 3), weight=randn(2, 3)))

    add("relu", "relu", F.relu, dict(input=with_exact_zeros(randn(6, 9, scale=2), rng)))
    add("leaky_relu", "leaky_relu", F.leaky_relu,
        dict(input=with_exact_zeros(randn(6, 9, scale=2), rng)))
    add("leaky_relu_0.2", "leaky_relu", F.leaky_relu,
        dict(input=with_exact_zeros(randn(3, 4, 5, scale=2), rng)), negative_slope=0.2)
    add("elu", "elu", F.elu, dict(input=with_exact_zeros(randn(6, 9, scale=2), rng)))
    add("elu_0.5", "elu", F.elu,
        dict(input=with_exact_zeros(randn(3, 4, 5, scale=3), rng)), alpha=0.5)
    # sigmoid and tanh also far into saturation, where a naive formula overflows
    wide = np.concatenate([randn(41, scale=3),
                           np.array([-100, -30, -15, 15, 30, 100, 0], np.float32)])
    add("sigmoid", "sigmoid", torch.sigmoid, dict(input=wide.reshape(6, 8)))
    add("tanh", "tanh", torch.tanh, dict(input=wide.reshape(2, 3, 8)))

    # softmax / log_softmax along dim 1 and -1 of a 3-D input; one slice shifted by +100, so
    # a formula without the max subtraction overflows float32 (exp(89) > 3.4e38)
    for op, function in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        add(f"{op}_2d", op, function, dict(input=randn(5, 7, scale=2)), dim=1)
        for dim in (1, -1):
            x = randn(3, 4, 6, scale=2)
            x[1] += 100
            add(f"{op}_3d_dim{dim}", op, function, dict(input=x), dim=dim)

    logits = randn(9, 6, scale=3)
    logits[2] += 100  # overflows exp in float32: needs the stable log-sum-exp
    targets = rng.integers(0, 6, size=9).astype(np.int64)
    for reduction in ("mean", "sum", "none"):
        add(f"cross_entropy_{reduction}", "cross_entropy", F.cross_entropy,
            dict(input=logits, target=targets), reduction=reduction)

    prediction, target = randn(4, 6, scale=2), randn(4, 6)
    for reduction in ("mean", "sum", "none"):
        add(f"mse_loss_{reduction}", "mse_loss", F.mse_loss,
            dict(input=prediction, target=target), reduction=reduction)

    out["cases"] = np.array(json.dumps(cases))
    return out


# ----- batchnorm.npz ----------------------------------------------------------------------------
BN_SHAPES = {  # the input shape of each training step, then of the eval step
    "bn1d_2d": ("BatchNorm1d", [(8, 4), (5, 4), (2, 4)], (6, 4)),
    "bn1d_3d": ("BatchNorm1d", [(6, 3, 5), (3, 3, 7), (1, 3, 4)], (4, 3, 5)),
    "bn2d": ("BatchNorm2d", [(4, 3, 3, 5), (2, 3, 4, 4), (1, 3, 3, 3)], (3, 3, 2, 4)),
}
BN_OPTIONS = {
    "momentum": dict(momentum=0.1),
    # a cumulative average that continues from a loaded num_batches_tracked of 2
    "cumulative": dict(momentum=None, eps=1e-3),
    "no_affine": dict(momentum=0.3, affine=False),
    "no_running_stats": dict(track_running_stats=False),
}


def channel_data(shape, rng) -> np.ndarray:
    """Random data whose channels have means in [-4, 4] and scales in [0.5, 3]."""
    channels = shape[1]
    mean = rng.uniform(-4, 4, channels)
    scale = rng.uniform(0.5, 3, channels)
    broadcast = (1, channels) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * scale.reshape(broadcast) + mean.reshape(broadcast)
    return x.astype(np.float32)


def make_batchnorm() -> dict:
    rng = np.random.default_rng(20240502)
    out: dict = {}
    cases = []
    for shape_name, (kind, train_shapes, eval_shape) in BN_SHAPES.items():
        for option_name, options in BN_OPTIONS.items():
            case = f"{shape_name}_{option_name}"
            cases.append(case)
            channels = train_shapes[0][1]
            layer = getattr(nn, kind)(channels, **options)
            # a non-default starting state, so the affine transform and the running averages
            # are exercised by values other than 1, 0, 0 and 1
            initial = {}
            if layer.affine:
                initial["weight"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
                initial["bias"] = (rng.standard_normal(channels) * 0.5).astype(np.float32)
            if layer.track_running_stats:
                initial["running_mean"] = (rng.standard_normal(channels) * 0.5).astype(np.float32)
                initial["running_var"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)
                tracked = 2 if options.get("momentum", 0.1) is None else 0
                initial["num_batches_tracked"] = np.array(tracked, np.int64)
            layer.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial.items()})
            for key, value in initial.items():
                out[f"{case}/initial/{key}"] = value
            # steps 0 .. train_steps - 1 in training mode, then one step in eval mode
            out[f"{case}/config"] = config(kind=kind, channels=channels, options=options,
                                           train_steps=len(train_shapes))

            steps = [(shape, True) for shape in train_shapes] + [(eval_shape, False)]
            for step, (shape, training) in enumerate(steps):
                layer.train(training)
                x_array, upstream = channel_data(shape, rng), rng.standard_normal(shape)
                upstream = upstream.astype(np.float32)
                layer.zero_grad(set_to_none=True)
                x = torch.tensor(x_array, requires_grad=True)
                y = layer(x)
                y.backward(torch.from_numpy(upstream))
                prefix = f"{case}/step{step}"
                out[f"{prefix}/input"] = x_array
                out[f"{prefix}/upstream"] = upstream
                out[f"{prefix}/output"] = as_numpy(y)
                out[f"{prefix}/grad_input"] = grad_of(x)
                if layer.affine:
                    out[f"{prefix}/grad_weight"] = grad_of(layer.weight)
                    out[f"{prefix}/grad_bias"] = grad_of(layer.bias)
                for key, value in layer.named_buffers():
                    out[f"{prefix}/{key}"] = as_numpy(value)
    out["cases"] = np.array(json.dumps(cases))
    return out


# ----- mlp_*.npz ---------------------------------------------------------------------------------
def read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as file:
        return np.frombuffer(file.read(), dtype=np.uint8, offset=header)


def mnist_sample(count: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(MNIST_DIR / "train5k-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    labels = read_idx(MNIST_DIR / "train5k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    order = np.random.RandomState(0).permutation(len(images))[:count]  # the files are sorted
    return images[order].copy(), labels[order].copy()


def pixels_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1]; tests/test_parity_torch.py does exactly the same."""
    return images.astype(np.float32) / np.float32(255)


def ioffe_szegedy_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(784, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        nn.Linear(100, 10))


def state_arrays(model: nn.Module) -> dict:
    return {key: as_numpy(value) for key, value in model.state_dict().items()}


def make_mlp() -> dict:
    images, labels = mnist_sample(MLP_BATCH * (MLP_STEPS + 1))  # the last batch is held out
    torch.manual_seed(0)
    initial = state_arrays(ioffe_szegedy_mlp())  # PyTorch's default initialisation
    files = {"mlp_data.npz": {"images": images, "labels": labels,
                              "config": config(batch=MLP_BATCH, steps=MLP_STEPS),
                              **{f"initial/{k}": v for k, v in initial.items()}}}
    x_all = pixels_to_float(images)
    for case, options in SGD_CASES.items():
        model = ioffe_szegedy_mlp()
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in initial.items()})
        frozen = case == "frozen"
        if frozen:
            model[0].requires_grad_(False)
        optimizer = torch.optim.SGD(model.parameters(), **options)
        loss_function = nn.CrossEntropyLoss()
        losses = []
        for step in range(MLP_STEPS):
            batch = slice(step * MLP_BATCH, (step + 1) * MLP_BATCH)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(torch.from_numpy(x_all[batch])),
                                 torch.from_numpy(labels[batch]))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            eval_logits = as_numpy(model(torch.from_numpy(x_all[MLP_STEPS * MLP_BATCH:])))
        final = state_arrays(model)
        if frozen:
            assert all(np.array_equal(final[k], initial[k]) for k in ("0.weight", "0.bias"))
        # the update final - initial is stored rather than the final state: it is (nearly
        # always) exact, as two floats within a factor 2 of each other subtract exactly; it
        # compresses (the weight of a pixel that is blank in every batch does not move); and
        # the tests can hold the update itself to a relative tolerance
        files[f"mlp_{case}.npz"] = {
            "config": config(sgd=options, frozen=["0"] if frozen else []),
            "losses": np.array(losses, np.float32),
            "eval_logits": eval_logits,
            **{f"update/{k}": final[k] - initial[k] for k in final}}
    return files


def main() -> None:
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        print(f"warning: the fixtures were made with torch {TORCH_VERSION}, this is "
              f"{torch.__version__}")
    torch.set_num_threads(1)  # one summation order, whatever the machine
    save("functional.npz", make_functional())
    save("batchnorm.npz", make_batchnorm())
    for name, arrays in make_mlp().items():
        save(name, arrays)


if __name__ == "__main__":
    main()

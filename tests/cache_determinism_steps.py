"""Run by tests/test_cache_determinism.py in fresh processes: train the four command-line
models for two steps (SGD with Nesterov and weight decay, Adam, AdamW, Adagrad), evaluate them,
and run every activation forward and backward; print a digest of every loss, gradient, state
dict entry and output, one per line."""
import hashlib

import numpy as np

import minidl
from minidl import models, optim
from minidl.nn import functional as F


def digest(array):
    array = array.data if isinstance(array, minidl.Tensor) else array
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


CASES = [  # model, input shape (BatchNorm1d (60, 100) runs serial, BatchNorm2d parallel), optimizer
    ("mlp-bn", (60, 784),
     lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("cnn-bn", (64, 1, 28, 28), lambda p: optim.Adam(p, lr=1e-3)),
    ("cnn", (32, 1, 28, 28), lambda p: optim.AdamW(p, lr=1e-3)),
    ("mlp", (60, 784), lambda p: optim.Adagrad(p, lr=1e-2)),
]

ACTIVATIONS = [F.relu, F.sigmoid, F.tanh, F.elu, F.leaky_relu,
               lambda t: F.softmax(t, 1), lambda t: F.log_softmax(t, 1)]


def main():
    rng = np.random.default_rng(0)
    for name, shape, make_optimizer in CASES:
        minidl.manual_seed(0)
        model = models.get_model(name)
        optimizer = make_optimizer(model.parameters())
        images = rng.random(shape, dtype=np.float32)
        labels = rng.integers(0, 10, shape[0])
        for step in range(2):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(minidl.tensor(images)), labels)
            loss.backward()
            print(name, step, "loss", digest(loss))
            for key, parameter in model.named_parameters():
                print(name, step, "grad", key, digest(parameter.grad))
            optimizer.step()
        for key, value in model.state_dict().items():
            print(name, "state", key, digest(value))
        model.eval()
        with minidl.no_grad():
            print(name, "eval", digest(model(minidl.tensor(images))))
    x = minidl.tensor(rng.standard_normal((64, 32, 16, 16), dtype=np.float32),
                      requires_grad=True)
    for index, activation in enumerate(ACTIVATIONS):
        x.grad = None
        y = activation(x)
        (y * y).sum().backward()
        print("activation", index, digest(y), digest(x.grad))


if __name__ == "__main__":
    main()

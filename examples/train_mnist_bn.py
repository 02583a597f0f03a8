"""Train the Ioffe & Szegedy (2015) MNIST network: 784-100-100-100-10, BatchNorm, sigmoid.

    python examples/train_mnist_bn.py                    # Numba kernels (default)
    python examples/train_mnist_bn.py --kernels numpy    # the same run on the NumPy references

Trains on the 5,000-image MNIST sample and reports accuracy on the official 10,000-image test
set (the files in ../shared/data/mnist, or --data DIR holding the same four IDX files).
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import minidl
from minidl import nn
from minidl.data import read_idx

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_mnist(directory: pathlib.Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 (N, 784) in [0, 1], labels as int64 (N,)."""
    images = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz")
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)


def mnist_bn_network() -> nn.Sequential:
    """Three hidden layers of 100 sigmoid units, each after BatchNorm (Ioffe & Szegedy, 4.1)."""
    layers = []
    for fan_in in (784, 100, 100):
        layers += [nn.Linear(fan_in, 100), nn.BatchNorm1d(100), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(100, 10))


@minidl.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    predictions = model(minidl.tensor(images)).data.argmax(axis=1)
    model.train()
    return float((predictions == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=("numba", "numpy"), default="numba")
    args = parser.parse_args()

    minidl.use_kernels(args.kernels)
    minidl.manual_seed(args.seed)
    train_images, train_labels = load_mnist(args.data, "train5k")
    test_images, test_labels = load_mnist(args.data, "t10k")

    model = mnist_bn_network()
    loss_function = nn.CrossEntropyLoss()
    optimizer = minidl.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    order_rng = np.random.default_rng(args.seed)  # the sample is sorted by class: shuffle
    steps_per_epoch = len(train_images) // args.batch_size

    for epoch in range(1, args.epochs + 1):
        start, losses = time.perf_counter(), []
        order = order_rng.permutation(len(train_images))
        for step in range(steps_per_epoch):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad()
            loss = loss_function(model(minidl.tensor(train_images[batch])), train_labels[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - start
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
              f"test accuracy {accuracy(model, test_images, test_labels):.4f}  "
              f"({seconds:.2f} s, {args.kernels} kernels)")


if __name__ == "__main__":
    main()

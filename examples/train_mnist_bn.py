"""Train the Ioffe & Szegedy (2015) MNIST network: 784-100-100-100-10, BatchNorm, sigmoid.

    python examples/train_mnist_bn.py                    # Numba kernels (default)
    python examples/train_mnist_bn.py --kernels numpy    # the same run on the NumPy references

Trains on the 5,000-image MNIST sample bundled with minidl and reports accuracy on the
official 10,000-image test set (also bundled); --data DIR reads the four official IDX files of
the full set instead.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import minidl
from minidl import nn
from minidl.models import mlp_bn  # Linear-BatchNorm1d-Sigmoid x3, Linear: printed at the start
from minidl.data import MNIST, DataLoader, transforms
from minidl.train import evaluate  # eval mode, no_grad, then back to training mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="directory of the official IDX files "
                        "(default: the bundled 15,000-image subset)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=("numba", "numpy"), default="numba")
    args = parser.parse_args()

    minidl.use_kernels(args.kernels)
    minidl.manual_seed(args.seed)
    to_vectors = transforms.ToFloat()  # uint8 -> float32 in [0, 1]; the model flattens
    train_loader = DataLoader(MNIST(args.data, train=True, transform=to_vectors),
                              batch_size=args.batch_size, shuffle=True, drop_last=True,
                              seed=args.seed)
    test_loader = DataLoader(MNIST(args.data, train=False, transform=to_vectors),
                             batch_size=1000)

    model = mlp_bn()
    print(model)
    loss_function = nn.CrossEntropyLoss()
    optimizer = minidl.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    # anneal the rate to 0 over the run: the test accuracy settles instead of jumping around
    scheduler = minidl.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    for epoch in range(1, args.epochs + 1):
        start, losses = time.perf_counter(), []
        for images, labels in train_loader:  # shuffled: the training sample is sorted by class
            optimizer.zero_grad()
            loss = loss_function(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        seconds = time.perf_counter() - start
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
              f"test accuracy {evaluate(model, test_loader).accuracy:.4f}  "
              f"({seconds:.2f} s, {args.kernels} kernels)")


if __name__ == "__main__":
    main()

"""Train a small convolutional network with BatchNorm on MNIST: conv-BN-ReLU-pool x2, linear.

    python examples/train_mnist_cnn.py                   # Numba kernels (default)
    python examples/train_mnist_cnn.py --kernels numpy   # the same run on the NumPy references

SGD with momentum and a StepLR schedule, on the 5,000-image MNIST sample bundled with minidl;
accuracy on the official 10,000-image test set (also bundled).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import minidl
from minidl import nn
from minidl.models import cnn_bn  # conv-BN-ReLU-pool x2, linear: printed at the start
from minidl.data import MNIST, DataLoader, transforms
from minidl.train import evaluate  # eval mode, no_grad, then back to training mode
from minidl.optim.lr_scheduler import StepLR

# the mean and standard deviation of MNIST's training pixels, after scaling to [0, 1]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="directory of the official IDX files "
                        "(default: the bundled 15,000-image subset)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--step-size", type=int, default=3, help="epochs between lr x0.2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", choices=("numba", "numpy"), default="numba")
    args = parser.parse_args()

    minidl.use_kernels(args.kernels)
    minidl.manual_seed(args.seed)
    to_input = transforms.Compose([transforms.ToFloat(),
                                   transforms.Normalize([MNIST_MEAN], [MNIST_STD])])
    train_loader = DataLoader(MNIST(args.data, train=True, transform=to_input),
                              batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(MNIST(args.data, train=False, transform=to_input),
                             batch_size=500)

    model = cnn_bn()
    print(model)
    loss_function = nn.CrossEntropyLoss()
    optimizer = minidl.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                 weight_decay=args.weight_decay)
    scheduler = StepLR(optimizer, step_size=args.step_size, gamma=0.2)

    for epoch in range(1, args.epochs + 1):
        start, losses = time.perf_counter(), []
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = loss_function(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        seconds = time.perf_counter() - start
        print(f"epoch {epoch:2d}  loss {np.mean(losses):.4f}  "
              f"test accuracy {evaluate(model, test_loader).accuracy:.4f}  "
              f"lr {scheduler.get_last_lr()[0]:.4g}  ({seconds:.2f} s, {args.kernels} kernels)")


if __name__ == "__main__":
    main()

"""The README's examples train on real MNIST digits (bundled: 5,000 training images, the
official 10,000 test images) to the accuracy PyTorch reaches with the same recipe."""
import os
import pathlib
import re
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def final_test_accuracy(script: str, epochs: int) -> float:
    command = [sys.executable, str(EXAMPLES / script), "--epochs", str(epochs)]
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        # the JIT-disabled run checks the kernels' Python logic on small inputs elsewhere;
        # full training runs of interpreted loops would take many minutes
        command += ["--kernels", "numpy"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    accuracies = [float(a) for a in re.findall(r"test accuracy (\d\.\d+)", result.stdout)]
    assert len(accuracies) == epochs, result.stdout
    return accuracies[-1]


def test_mnist_bn_mlp_reaches_about_90_percent():
    # Ioffe & Szegedy's 784-100-100-100-10 sigmoid network with BatchNorm; PyTorch: 90-91%
    assert final_test_accuracy("train_mnist_bn.py", epochs=10) >= 0.90


def test_mnist_bn_cnn_reaches_97_percent():
    # conv-BN-ReLU-pool x2 + linear, SGD + StepLR; PyTorch with the same recipe: 97.5%
    assert final_test_accuracy("train_mnist_cnn.py", epochs=8) >= 0.97

"""Named models for 28x28 grey images with 10 classes (MNIST, Fashion-MNIST).

    from minidl import models
    model = models.get_model("cnn-bn")        # or models.cnn_bn()
    models.names()                            # ['mlp', 'mlp-bn', 'cnn', 'cnn-bn']

Every model takes images (N, 1, 28, 28) (the MLPs flatten them first, so they take vectors
(N, 784) as well) and returns 10 logits per image. They are `nn.Sequential`s, so their
`state_dict()` keys are those of the same `torch.nn.Sequential` in PyTorch.

- `mlp-bn`: Ioffe & Szegedy (2015, section 4.1): 784-100-100-100-10, sigmoid units, each hidden
  layer followed by BatchNorm1d before its sigmoid.
- `mlp`: the same network without BatchNorm.
- `cnn-bn`: conv3x3(16)-BN-ReLU-maxpool, conv3x3(32)-BN-ReLU-maxpool, linear (the small CNN
  of examples/train_mnist_cnn.py; the convolutions have no bias: BatchNorm's shift replaces it).
- `cnn`: the same network without BatchNorm (the convolutions have a bias).
"""
from __future__ import annotations

from . import nn

__all__ = ["mlp", "mlp_bn", "cnn", "cnn_bn", "get_model", "names", "MODELS"]


def _mlp(batch_norm: bool, in_features: int, hidden: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in in (in_features, hidden, hidden):
        layers.append(nn.Linear(fan_in, hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers, nn.Linear(hidden, num_classes))


def mlp(in_features: int = 784, hidden: int = 100, num_classes: int = 10) -> nn.Sequential:
    """Flatten, then three sigmoid layers of `hidden` units and a linear output layer."""
    return _mlp(False, in_features, hidden, num_classes)


def mlp_bn(in_features: int = 784, hidden: int = 100, num_classes: int = 10) -> nn.Sequential:
    """Ioffe & Szegedy's MNIST network: Linear-BatchNorm1d-Sigmoid x3, then Linear."""
    return _mlp(True, in_features, hidden, num_classes)


def _cnn(batch_norm: bool, in_channels: int, image_size: int,
         num_classes: int) -> nn.Sequential:
    if image_size % 4:
        raise ValueError(f"cnn: image_size must be a multiple of 4 (two 2x2 poolings), got "
                         f"{image_size}")
    layers: list[nn.Module] = []
    for fan_in, channels in ((in_channels, 16), (16, 32)):
        layers.append(nn.Conv2d(fan_in, channels, kernel_size=3, padding=1,
                                bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
    side = image_size // 4
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * side * side, num_classes))


def cnn(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """(N, 1, 28, 28) -> conv-ReLU-pool (16 x 14 x 14) -> conv-ReLU-pool (32 x 7 x 7) -> 10."""
    return _cnn(False, in_channels, image_size, num_classes)


def cnn_bn(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Sequential:
    """(N, 1, 28, 28) -> conv-BN-ReLU-pool (16 x 14 x 14) -> conv-BN-ReLU-pool (32 x 7 x 7)
    -> 10 logits."""
    return _cnn(True, in_channels, image_size, num_classes)


MODELS = {"mlp": mlp, "mlp-bn": mlp_bn, "cnn": cnn, "cnn-bn": cnn_bn}


def names() -> list[str]:
    """The names `get_model` accepts."""
    return list(MODELS)


def get_model(name: str, **kwargs) -> nn.Sequential:
    """A new model by name ('mlp', 'mlp-bn', 'cnn', 'cnn-bn'), initialised from minidl's
    generator (call `minidl.manual_seed` first for reproducible weights)."""
    if name not in MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; expected one of {names()}")
    return MODELS[name](**kwargs)

"""minidl.data: data sets, the DataLoader and image transforms.

    from minidl.data import MNIST, DataLoader, transforms

    train = MNIST(train=True, transform=transforms.ToFloat())   # the bundled 5,000-image sample
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)

Items are `(image, label)` with channel-first uint8 images (C, H, W) until a transform (such as
`transforms.ToFloat()`) makes them float32; the DataLoader yields float32 Tensors and int64
label arrays.
"""
from . import transforms
from .cifar import CIFAR10
from .dataset import ArrayDataset
from .idx import read_idx
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST

__all__ = ["ArrayDataset", "MNIST", "FashionMNIST", "CIFAR10", "DataLoader", "transforms",
           "read_idx"]

"""minidl.data: data sets, the DataLoader and image transforms.

    from minidl.data import MNIST, DataLoader, transforms

    train = MNIST(train=True, transform=transforms.ToFloat())   # the bundled 5,000-image sample
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0)

Items are `(image, label)` with channel-first uint8 images (C, H, W) until a transform (such as
`transforms.ToFloat()`) makes them float32; the DataLoader yields float32 image Tensors and
int64 label Tensors. PyTorch's names for the generic parts (Dataset, TensorDataset, Subset,
random_split, DataLoader, default_collate) are also in `minidl.utils.data`.
"""
from . import transforms
from .cifar import CIFAR10
from .collate import default_collate
from .dataset import ArrayDataset, Dataset, TensorDataset
from .idx import read_idx
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST
from .split import Subset, random_split

__all__ = ["Dataset", "TensorDataset", "ArrayDataset", "Subset", "random_split", "MNIST",
           "FashionMNIST", "CIFAR10", "DataLoader", "default_collate", "transforms", "read_idx"]

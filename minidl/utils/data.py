"""torch.utils.data's names for minidl's data tools, so `from minidl.utils.data import
DataLoader, TensorDataset, random_split` works as in PyTorch. These are the same objects as in
`minidl.data` (where minidl's data sets and transforms also live)."""
from ..data.collate import default_collate
from ..data.dataset import Dataset, TensorDataset
from ..data.loader import DataLoader
from ..data.split import Subset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader",
           "default_collate"]

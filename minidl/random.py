"""minidl's random number generator: weight initialisation, dropout and the random
constructors (minidl.randn, ...) draw from it; and Generator, torch.Generator's counterpart."""
from __future__ import annotations

import numpy as np

from .device import device_argument

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed minidl's generator so initial weights are reproducible; returns the generator."""
    global _generator
    _check_seed(seed, "manual_seed")
    _generator = np.random.default_rng(int(seed))
    return _generator


def _check_seed(seed, where: str) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{where}: expected a non-negative integer, got {seed!r}")


def default_generator() -> np.random.Generator:
    return _generator


# torch.Generator's default seed: Generator() without manual_seed repeats, as PyTorch's does
_PYTORCH_DEFAULT_SEED = 67280421310721


class Generator(np.random.Generator):
    """An independent, seedable source of random numbers, in torch.Generator's role: pass it as
    `generator=` to minidl.rand/randn/randint/randperm, DataLoader and random_split, e.g.
    `random_split(data, [0.8, 0.2], generator=minidl.Generator().manual_seed(42))`.

    It is a numpy.random.Generator (PCG64), so NumPy's methods work on it as well. The numbers
    differ from PyTorch's for the same seed (another algorithm); the reproducibility is the same.
    """

    def __init__(self, device="cpu"):
        device_argument(device, "Generator")  # the CPU only, as everywhere
        super().__init__(np.random.PCG64(_PYTORCH_DEFAULT_SEED))
        self._initial_seed = _PYTORCH_DEFAULT_SEED

    def manual_seed(self, seed: int) -> "Generator":
        """Restart from `seed` (a non-negative int); returns the generator, as PyTorch's."""
        _check_seed(seed, "Generator.manual_seed")
        self.bit_generator.state = np.random.PCG64(int(seed)).state
        self._initial_seed = int(seed)
        return self

    def initial_seed(self) -> int:
        """The seed this generator last started from."""
        return self._initial_seed

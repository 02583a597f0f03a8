"""Sequential: modules applied one after another, named '0', '1', ... as in PyTorch."""
from __future__ import annotations

from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """Chain modules: Sequential(a, b, c)(x) == c(b(a(x))). Also takes an OrderedDict of names.

    Example:
        >>> model = nn.Sequential(nn.Linear(784, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
        ...                       nn.Linear(100, 10))
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential index {index} is out of range for {len(modules)} "
                             f"modules")
        return modules[index]

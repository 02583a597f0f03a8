"""Containers, as in PyTorch: Sequential (modules applied in order), ModuleList and ModuleDict
(modules held, not called), ParameterList. Entries are named '0', '1', ... (or by their key),
so state_dict() keys are PyTorch's: '0.weight', 'encoder.weight', '0' for a ParameterList."""
from __future__ import annotations

import operator
from collections import OrderedDict

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _position(index, count: int, where: str) -> int:
    """A list index (negative ones counted from the end) as a position in [0, count)."""
    try:
        index = operator.index(index)
    except TypeError:
        raise TypeError(f"{where} indices must be integers or slices, got "
                        f"{type(index).__name__}") from None
    if not -count <= index < count:
        raise IndexError(f"{where} index {index} is out of range for {count} entries")
    return index % count


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


class ModuleList(Module):
    """A list of modules, registered (their parameters are the list's) but not called: write
    the forward yourself. Entries are named '0', '1', ... as in PyTorch.

        self.blocks = nn.ModuleList([nn.Linear(10, 10) for _ in range(3)])
        for block in self.blocks:
            x = block(x)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules: list) -> None:
        """Hold `modules` under the names '0', '1', ... (after an insert or a delete)."""
        self._modules.clear()
        for position, module in enumerate(modules):
            self._modules[str(position)] = module

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[_position(index, len(modules), "ModuleList")]

    def __setitem__(self, index, module: Module) -> None:
        position = _position(index, len(self), "ModuleList")
        _check_module(module, "ModuleList")
        self._modules[str(position)] = module

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_position(index, len(modules), "ModuleList")]
        self._renumber(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other) -> "ModuleList":
        if not isinstance(other, ModuleList):
            raise TypeError(f"ModuleList + {type(other).__name__}: expected a ModuleList")
        return ModuleList(list(self) + list(other))

    def append(self, module: Module) -> "ModuleList":
        _check_module(module, "ModuleList.append")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError(f"ModuleList.extend: expected an iterable of modules, got a "
                            f"single {type(modules).__name__}; use append")
        if not hasattr(modules, "__iter__"):
            raise TypeError(f"ModuleList: expected an iterable of modules, got "
                            f"{type(modules).__name__}")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        _check_module(module, "ModuleList.insert")
        modules = list(self._modules.values())
        modules.insert(operator.index(index), module)
        self._renumber(modules)

    def pop(self, index: int = -1) -> Module:
        module = self[index]
        del self[index]
        return module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is not callable: iterate over it in your "
                                  "module's forward (or use nn.Sequential)")


class ModuleDict(Module):
    """A dict of modules by name, registered but not called; keys keep their insertion order
    and are the state_dict prefixes ('encoder.weight').

        self.heads = nn.ModuleDict({"digit": nn.Linear(64, 10), "parity": nn.Linear(64, 2)})
        logits = self.heads[task](features)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _check_module(module, f"ModuleDict[{key!r}]")
        if key in self._modules:
            self._modules[key] = module
        else:
            self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self._modules[key]
        return module

    def update(self, modules) -> None:
        """Add or replace entries from a mapping or an iterable of (name, module) pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        if isinstance(modules, Module) or not hasattr(pairs, "__iter__"):
            raise TypeError(f"ModuleDict.update: expected a mapping or an iterable of (name, "
                            f"module) pairs, got {type(modules).__name__}")
        for pair in pairs:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"ModuleDict.update: expected (name, module) pairs, got "
                                f"{pair!r}")
            self[pair[0]] = pair[1]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict is not callable: pick a module by its key in "
                                  "your module's forward")


class ParameterList(Module):
    """A list of parameters, registered under '0', '1', ... (their state_dict keys). A Tensor
    that is not a Parameter becomes one that shares its array, as in PyTorch.

        self.scales = nn.ParameterList([nn.Parameter(np.ones(4, np.float32)) for _ in range(3)])
    """

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        parameters = list(self._parameters.values())
        if isinstance(index, slice):
            return ParameterList(parameters[index])
        return parameters[_position(index, len(parameters), "ParameterList")]

    def __setitem__(self, index, value) -> None:
        position = _position(index, len(self), "ParameterList")
        self._parameters[str(position)] = _as_parameter(value, "ParameterList")

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, values) -> "ParameterList":
        return self.extend(values)

    def append(self, value) -> "ParameterList":
        self.register_parameter(str(len(self)), _as_parameter(value, "ParameterList.append"))
        return self

    def extend(self, values) -> "ParameterList":
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList: expected an iterable of Parameters, got "
                            f"{type(values).__name__}")
        for value in list(values):
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"({name}): Parameter containing: [{param.dtype} of size "
                         f"{param.shape}]" for name, param in self._parameters.items())

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterList is not callable: use its parameters in your "
                                  "module's forward")


def _check_module(module, where: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {type(module).__name__}")


def _as_parameter(value, where: str) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)  # shares the tensor's array, as torch's ParameterList does
    raise TypeError(f"{where}: expected a Parameter or a Tensor, got {type(value).__name__}")

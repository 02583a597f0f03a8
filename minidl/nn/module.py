"""Module: the base class of layers. Owns parameters, buffers, sub-modules and the train/eval mode.

As in PyTorch, assigning a Parameter or a Module to an attribute registers it; running
statistics and other saved-but-not-trained state are buffers (`register_buffer`).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from ..device import cpu_only
from ..ops.conversion import to_arguments
from ..tensor import Tensor, _as_array
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class for all layers and models: subclass it and implement `forward`."""

    training: bool

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())  # left out of state_dict()
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration ---------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called: "
                                 f"call super().__init__() first in {type(self).__name__}")
        if isinstance(value, (Parameter, Module)):
            for table in (self._parameters, self._buffers, self._modules):
                table.pop(name, None)
            self.__dict__.pop(name, None)
            table = self._parameters if isinstance(value, Parameter) else self._modules
            table[name] = value
        elif name in self._parameters or name in self._modules:
            if value is not None:
                kind = "parameter" if name in self._parameters else "module"
                raise TypeError(f"cannot assign {type(value).__name__} to {kind} {name!r} of "
                                f"{type(self).__name__} (a {kind.capitalize()} or None expected)")
            (self._parameters if name in self._parameters else self._modules)[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer {name!r} of "
                                f"{type(self).__name__} (a Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got "
                            f"{type(param).__name__}")
        self._check_new_name(name, self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is never optimised (e.g. running_mean). As in PyTorch, it is
        saved in state_dict() unless persistent=False (a cache, a fixed mask)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got "
                            f"{type(tensor).__name__}")
        if not isinstance(persistent, bool):
            raise TypeError(f"register_buffer({name!r}): persistent must be True or False, "
                            f"got {persistent!r}")
        self._check_new_name(name, self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got "
                            f"{type(module).__name__}")
        self._check_new_name(name, self._modules)
        self._modules[name] = module

    def _check_new_name(self, name: str, table) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"a parameter, buffer or module name must be a non-empty string "
                           f"without '.', got {name!r}")
        if name in self.__dict__ or any(name in t for t in
                                        (self._parameters, self._buffers, self._modules)
                                        if t is not table):
            raise KeyError(f"attribute {name!r} already exists in {type(self).__name__}")

    # ----- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, table: str, recurse: bool):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for module_name, module in modules:
            for name, member in getattr(module, table).items():
                if member is None or id(member) in seen:
                    continue
                seen.add(id(member))
                yield (f"{module_name}.{name}" if module_name else name), member

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        for name, param in self._named_members("_parameters", recurse):
            yield (f"{prefix}.{name}" if prefix else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        for name, buffer in self._named_members("_buffers", recurse):
            yield (f"{prefix}.{name}" if prefix else name), buffer

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, function) -> "Module":
        """Call function(module) on every sub-module (children first) and on self."""
        for child in self.children():
            child.apply(function)
        function(self)
        return self

    # ----- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (BatchNorm uses batch statistics, Dropout drops) on every module."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): expected mode to be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> "Module":
        """Set evaluation mode: BatchNorm uses its running statistics. Same as train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.data[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze (True) every parameter, e.g. for transfer learning."""
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def float(self) -> "Module":
        """Convert floating point parameters and buffers to float32 in place."""
        return self._cast(np.float32)

    def double(self) -> "Module":
        """Convert floating point parameters and buffers to float64 in place (gradient checks)."""
        return self._cast(np.float64)

    def to(self, *args, **kwargs) -> "Module":
        """PyTorch's Module.to: to(device), to(dtype), to(device, dtype), to(tensor). The
        device must be the CPU (minidl's only one: nothing moves); a dtype, which must be
        floating point, converts the floating point parameters and buffers (as .float() and
        .double() do; integer buffers such as num_batches_tracked stay int64). Returns self."""
        dtype, _ = to_arguments(args, kwargs, "Module.to")
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"Module.to: expected a floating point dtype (float32 or float64), "
                            f"got {dtype}; a module's parameters stay floating point")
        return self if dtype is None else self._cast(dtype)

    def cpu(self) -> "Module":
        """This module, whose parameters are on the CPU already (minidl's only device)."""
        return self

    def cuda(self, *args, **kwargs):
        raise cpu_only("Module.cuda()")

    def _cast(self, dtype) -> "Module":
        for tensor in list(self.parameters()) + list(self.buffers()):
            # a tensor already in `dtype` keeps its array, as PyTorch's .to() keeps the tensor
            if tensor.dtype.kind == "f" and tensor.dtype != dtype:
                tensor.data = tensor.data.astype(dtype)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.astype(dtype)
        return self

    # ----- state ------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by dotted name (PyTorch's keys), sharing memory with the model."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[prefix + name] = param.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[prefix + name] = buffer.detach()
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values (NumPy arrays or Tensors) into the parameters and buffers in place.

        With strict=True, missing or unexpected keys are an error; a shape or dtype mismatch is
        always an error. Nothing is modified unless every entry fits.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got "
                            f"{type(state_dict).__name__}")
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems = []
        if strict and (missing or unexpected):
            problems.append(f"missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for key in own.keys() & state_dict.keys():
            value = _as_array(state_dict[key], f"load_state_dict[{key!r}]")
            target = own[key]
            if value.shape != target.shape:
                problems.append(f"{key}: expected shape {target.shape}, got {value.shape}")
            elif value.dtype != target.dtype:
                problems.append(f"{key}: expected dtype {target.dtype}, got {value.dtype}")
            elif not (isinstance(target.data, np.ndarray) and target.data.flags.writeable):
                problems.append(f"{key}: its array is read-only (shared with a read-only "
                                f"array?), so it cannot be loaded in place")
            values[key] = value
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: "
                             + "; ".join(sorted(problems)))
        for key, value in values.items():
            own[key].data[...] = value  # in place: optimizers keep their references
        return IncompatibleKeys(missing, unexpected)

    # ----- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(module).replace("\n", "\n  ")
                    for name, module in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = "\n  ".join(([self.extra_repr()] if self.extra_repr() else []) + children)
        return f"{type(self).__name__}(\n  {lines}\n)"

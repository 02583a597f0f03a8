"""Tensor: a NumPy array with a gradient and a link to the graph node that produced it."""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd


def _as_array(data, where: str) -> np.ndarray:
    """Convert `data` to an array following minidl's dtype rule (see `tensor`)."""
    if isinstance(data, Tensor):
        data = data.data
    array = np.asarray(data)
    kind = array.dtype.kind
    if kind == "f":
        return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)
    if kind in "iu":
        return array.astype(np.int64, copy=False)
    raise TypeError(f"{where}: expected numbers (float or integer), got an array of dtype "
                    f"{array.dtype}")


def tensor(data, requires_grad: bool = False) -> "Tensor":
    """Create a Tensor from an array-like, copying the data.

    The dtype follows the array: float64 stays float64, other floats become float32, integers
    become int64 (class targets). Strings, objects, booleans and complex numbers are refused.

    Example:
        >>> x = minidl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    """
    return Tensor(np.array(_as_array(data, "minidl.tensor"), copy=True), requires_grad)


class Tensor:
    """An n-dimensional array (`.data`, a NumPy array) that can take part in autograd.

    `.grad` is None until a backward pass reaches this tensor; it is then a Tensor of the same
    shape and dtype. Only leaf tensors (created by the user, not by an operation) keep `.grad`.
    """

    __array_priority__ = 1000  # so `ndarray * Tensor` defers to Tensor.__rmul__

    def __init__(self, data, requires_grad: bool = False):
        self.data = _as_array(data, "Tensor")
        self.grad: Tensor | None = None
        self._node = None  # the Function that produced this tensor (None for leaves)
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """Wrap an array an operation produced (already of a valid dtype) without copying."""
        result = cls.__new__(cls)
        result.data, result.grad, result._node = array, None, None
        result._requires_grad = requires_grad
        return result

    # ----- properties -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {value!r}")
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"only floating point tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        if not value and self._node is not None:
            raise ValueError("requires_grad can only be switched off on leaf tensors; "
                             "use .detach() for a result of an operation")
        self._requires_grad = bool(value)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.data.dtype}{grad})"

    # ----- conversion -------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as PyTorch's Tensor.numpy()."""
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad: "
                               "use tensor.detach().numpy()")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): expected a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """A new tensor sharing the data, cut from the graph."""
        return Tensor._wrap(self.data)

    def float(self) -> "Tensor":
        """This tensor as float32 (an explicit cast, recorded in the graph)."""
        return _tensor_ops.cast(self, np.float32)

    def double(self) -> "Tensor":
        """This tensor as float64 (an explicit cast, recorded in the graph)."""
        return _tensor_ops.cast(self, np.float64)

    # ----- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None) -> None:
        """Accumulate the gradient of this tensor with respect to every leaf into `.grad`.

        Args:
            gradient: d(something)/d(self), an array or Tensor of this tensor's shape and dtype.
                May be omitted only when this tensor has one element (a loss).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                               "(was it computed under no_grad, or from tensors without "
                               "requires_grad=True?)")
        if gradient is None:
            if self.data.size != 1:
                raise ValueError(f"backward(): gradient can be omitted only for a tensor with one "
                                 f"element (a scalar loss), got shape {self.shape}; pass "
                                 f"gradient= of that shape")
            gradient = np.ones_like(self.data)
        else:
            gradient = _as_array(gradient, "backward(gradient)")
            if gradient.shape != self.shape or gradient.dtype != self.dtype:
                raise ValueError(f"backward(): expected a gradient of shape {self.shape} and dtype "
                                 f"{self.dtype}, got shape {gradient.shape} and dtype "
                                 f"{gradient.dtype}")
        autograd.backward(self, gradient)

    def _accumulate_grad(self, grad: np.ndarray, owned: bool = False) -> None:
        """Add `grad` to `.grad`. owned: nothing else refers to `grad` (the backward engine
        made it or a kernel just returned it), so a first gradient may be kept as it is
        rather than copied, when it already has this tensor's dtype and a plain layout."""
        if self.grad is not None:
            self.grad.data += grad
        elif (owned and isinstance(grad, np.ndarray) and grad.dtype == self.data.dtype
              and grad.flags.c_contiguous and grad.flags.writeable):
            self.grad = Tensor._wrap(grad)
        else:
            self.grad = Tensor._wrap(np.array(grad, dtype=self.dtype, copy=True))

    # ----- arithmetic (each a small Function in tensor_ops.py) -----------------------------
    def __add__(self, other):
        return _tensor_ops.add(self, other)

    def __radd__(self, other):
        return _tensor_ops.add(self, other)

    def __sub__(self, other):
        return _tensor_ops.sub(self, other)

    def __rsub__(self, other):
        return _tensor_ops.add(_tensor_ops.neg(self), other)

    def __mul__(self, other):
        return _tensor_ops.mul(self, other)

    def __rmul__(self, other):
        return _tensor_ops.mul(self, other)

    def __truediv__(self, other):
        if not isinstance(other, numbers.Real) or isinstance(other, bool):
            raise TypeError(f"Tensor / x: only division by a number is supported, got "
                            f"{type(other).__name__}")
        return _tensor_ops.mul(self, 1.0 / other)

    def __neg__(self):
        return _tensor_ops.neg(self)

    def reshape(self, *shape):
        return _tensor_ops.reshape(self, shape[0] if len(shape) == 1 and
                              isinstance(shape[0], (tuple, list)) else shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _tensor_ops.flatten(self, start_dim, end_dim)

    def sum(self, dim=None, keepdim: bool = False):
        return _tensor_ops.reduce_sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return _tensor_ops.reduce_mean(self, dim, keepdim)


autograd.Tensor = Tensor  # Function.apply wraps its outputs in Tensors

# imported last: tensor_ops needs the Tensor class defined above
from . import tensor_ops as _tensor_ops  # noqa: E402

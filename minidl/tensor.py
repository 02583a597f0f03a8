"""Tensor: a NumPy array with a gradient and a link to the graph node that produced it."""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd
from .device import CPU, cpu_only, device_argument
from .dtypes import convert_exactly, dtype_argument


_INT64_RANGE = np.iinfo(np.int64)
_FLOAT_OF_SIZE = {2: np.dtype(np.float32),  # float16: every value is exact in float32
                  4: np.dtype(np.float32), 8: np.dtype(np.float64)}
_INT64 = np.dtype(np.int64)
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
               "bool": "BoolTensor"}  # Tensor.type(), PyTorch's names


def _as_array(data, where: str, copy: bool = False) -> np.ndarray:
    """`data` as a C-contiguous array of one of minidl's dtypes (the rule is in `tensor`),
    converted exactly or refused with an error that names `where`.

    copy=True: always a new array that nothing else refers to (so an optimizer never writes
    into the caller's array, and a read-only or memory-mapped one becomes a writable copy).
    copy=False: `data`'s own memory when it already fits, a converted copy otherwise.
    """
    source = data.data if isinstance(data, Tensor) else data
    array = _to_ndarray(source, where)
    # NumPy built a new array from Python values: it is already ours, no second copy needed
    built_from_values = isinstance(source, (list, tuple, numbers.Number, np.generic))
    return array.astype(_minidl_dtype(array, where), order="C",
                        copy=copy and not built_from_values)


def _to_ndarray(data, where: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except ValueError as error:  # NumPy's "inhomogeneous shape"
        raise ValueError(f"{where}: expected a rectangular array (nested lists of equal "
                         f"lengths), got data NumPy cannot stack: {error}") from None
    # Python ints beyond int64 become objects, or float64 (rounded) beside a negative int:
    # np.asarray([2**63, -1]) is [9.223372036854776e18, -1.0]
    from_python_values = isinstance(data, (list, tuple))
    if array.dtype.kind == "O" or (from_python_values and array.dtype.kind == "f"
                                   and (np.abs(array) >= 2.0 ** 63).any()):
        _check_ints_fit_int64(np.asarray(data, dtype=object), where)
    return array


def _check_ints_fit_int64(values: np.ndarray, where: str) -> None:
    for value in values.flat:
        if (isinstance(value, numbers.Integral)
                and not _INT64_RANGE.min <= value <= _INT64_RANGE.max):
            raise _outside_int64(int(value), where)


def _outside_int64(value: int, where: str) -> ValueError:
    # str() of a huge int is slow, and refused beyond 4300 digits: say its size instead
    shown = str(value) if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"
    return ValueError(f"{where}: integers must lie in int64's range [-2**63, 2**63 - 1] "
                      f"(minidl's integer dtype), got {shown}")


def _minidl_dtype(array: np.ndarray, where: str) -> np.dtype:
    """The dtype `array` is stored in: float32, float64 or int64, in native byte order."""
    dtype = array.dtype
    if dtype.kind == "f":
        if dtype.itemsize not in _FLOAT_OF_SIZE:
            raise TypeError(f"{where}: expected float16, float32 or float64 data, got {dtype} "
                            f"({np.finfo(dtype).precision} digits); minidl computes in float32 "
                            f"or float64 and rounds nothing silently: convert explicitly, "
                            f"e.g. array.astype(np.float64)")
        return _FLOAT_OF_SIZE[dtype.itemsize]
    if dtype.kind == "u" and array.size and array.max() > _INT64_RANGE.max:
        raise _outside_int64(int(array.max()), where)  # uint64 from 2**63 (also NumPy's 2**63)
    if dtype.kind in "iu":
        return _INT64
    if dtype.kind == "b":
        raise TypeError(f"{where}: expected numbers (float or integer), got booleans; convert "
                        f"a mask explicitly, e.g. mask.astype(np.float32)")
    hint = "; convert it first, e.g. array.astype(np.float64)" if dtype.kind == "O" else ""
    raise TypeError(f"{where}: expected numbers (float or integer), got an array of dtype "
                    f"{dtype}{hint}")


def output_gradient(output: "Tensor", gradient, where: str) -> np.ndarray:
    """The array backward starts from at `output`: `gradient` (an array or Tensor of output's
    shape and dtype), or 1 when it is None and output has one element (a loss)."""
    if gradient is None:
        if output.data.size != 1:
            raise ValueError(f"{where}: the gradient can be omitted only for a tensor with one "
                             f"element (a scalar loss), got shape {output.shape}; pass a "
                             f"gradient of that shape")
        return np.ones_like(output.data)
    gradient = _as_array(gradient, where)
    if gradient.shape != output.shape or gradient.dtype != output.dtype:
        raise ValueError(f"{where}: expected a gradient of shape {output.shape} and dtype "
                         f"{output.dtype}, got shape {gradient.shape} and dtype "
                         f"{gradient.dtype}")
    return gradient


def tensor(data, requires_grad: bool = False, *, dtype=None, device=None) -> "Tensor":
    """Create a Tensor from an array-like, copying the data (as torch.tensor).

    The dtype follows the data, and every value is kept exactly or refused: float32 and float64
    stay as they are, float16 becomes float32 (which holds each of its values exactly), wider
    floats (longdouble) are refused rather than rounded; integers become int64 (class
    targets), and values outside int64 (uint64 from 2**63, Python ints beyond 64 bits) are a
    ValueError. Python floats are float64, as in NumPy. Strings, objects, booleans and complex
    numbers are refused.

    dtype= (minidl.float32, ...; booleans are taken then) converts the values, each of which
    it must hold exactly: floats may round to float32, but 1.5 does not become the integer 1
    (a ValueError). device= is the CPU's, minidl's only device.

    Example:
        >>> x = minidl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
        >>> y = minidl.tensor([[1, 2], [3, 4]], dtype=minidl.float32)
    """
    if device is not None:
        device_argument(device, "minidl.tensor")
    if dtype is None:
        array = _as_array(data, "minidl.tensor", copy=True)
    else:
        array = _as_dtype(data, dtype_argument(dtype, "minidl.tensor"), "minidl.tensor")
    result = Tensor._wrap(array)
    result.requires_grad = requires_grad  # checked: only floating point tensors
    return result


def _as_dtype(data, dtype: np.dtype, where: str) -> np.ndarray:
    """A new C-contiguous array of `data` in `dtype`, every value kept exactly."""
    array = _to_ndarray(data.data if isinstance(data, Tensor) else data, where)
    if array.dtype.kind != "b":  # booleans are taken when a dtype is asked for explicitly
        # refuses what _as_array refuses (strings, longdouble, ints beyond int64)
        array = array.astype(_minidl_dtype(array, where), copy=False)
    converted = convert_exactly(array, dtype, where)
    if converted is array:  # maybe still the caller's memory: a copy of the tensor's own
        return np.array(array, order="C", copy=True)
    return np.ascontiguousarray(converted)


class Tensor:
    """An n-dimensional array (`.data`, a NumPy array) that can take part in autograd.

    `Tensor(data)` copies `data`, as `minidl.tensor(data)` does (same dtype rule); results of
    operations and `.detach()` share memory without copying, as in PyTorch.

    `.grad` is None until a backward pass reaches this tensor; it is then a Tensor of the same
    shape and dtype. Only leaf tensors (created by the user, not by an operation) keep `.grad`.
    """

    __array_priority__ = 1000  # so `ndarray * Tensor` defers to Tensor.__rmul__
    __hash__ = object.__hash__  # == is elementwise, but tensors stay usable as dict keys
    _base = None  # the tensor this one is a view of (set by view ops; None: owns its memory)

    def __init__(self, data, requires_grad: bool = False):
        self.data = self._leaf_array(data)
        self.grad: Tensor | None = None
        self._node = None  # the graph node that produced this tensor (None for leaves)
        self._version = autograd.VersionCounter()  # in-place changes (shared with views)
        self.requires_grad = requires_grad

    @staticmethod
    def _leaf_array(data) -> np.ndarray:
        """The array a tensor made by the user holds: a copy of `data`, as torch.tensor makes,
        so nothing done to the tensor reaches the caller's array and a read-only (memory-mapped,
        broadcast) array becomes a writable one. (torch.Tensor(ndarray) shares a float32 array;
        minidl's constructor always copies, the one rule that is safe.)"""
        return _as_array(data, "Tensor", copy=True)

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> "Tensor":
        """Wrap an array an operation produced (already of a valid dtype) without copying."""
        result = cls.__new__(cls)
        result.data, result.grad, result._node = array, None, None
        result._requires_grad = requires_grad
        result._version = autograd.VersionCounter()
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
        """A new tensor sharing the data (and its version counter), cut from the graph."""
        detached = Tensor._wrap(self.data)
        detached._version = self._version
        return detached

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, in place (it becomes a leaf without grad)."""
        self._node, self._requires_grad = None, False
        return self

    def tolist(self):
        """The values as (nested) Python lists of floats, ints or bools."""
        return self.data.tolist()

    def element_size(self) -> int:
        """Bytes per element (4 for float32)."""
        return self.data.itemsize

    # casts, as PyTorch's: the same tensor when the dtype is already right; to float types
    # recorded in the graph, to int64 and bool not (a gradient cannot be rounded)
    def float(self) -> "Tensor":
        """This tensor as float32."""
        return ops.cast(self, np.float32)

    def double(self) -> "Tensor":
        """This tensor as float64."""
        return ops.cast(self, np.float64)

    def long(self) -> "Tensor":
        """This tensor as int64 (rounded towards zero)."""
        return ops.cast(self, np.int64)

    def int(self) -> "Tensor":
        """This tensor as int64: minidl's one integer dtype (PyTorch's .int() gives int32)."""
        return ops.cast(self, np.int64)

    def bool(self) -> "Tensor":
        """This tensor as bool (nonzero is True)."""
        return ops.cast(self, np.bool_)

    def to(self, *args, **kwargs) -> "Tensor":
        """This tensor in another dtype and/or on a device, as PyTorch's: to(minidl.float64),
        to("cpu"), to(device, dtype), to(other), to(dtype=..., copy=True). The same tensor
        when nothing changes; the only device is the CPU ("cuda" raises, see minidl/device.py)."""
        return ops.conversion.to(self, *args, **kwargs)

    def cpu(self) -> "Tensor":
        """This tensor, which is on the CPU already (minidl's only device)."""
        return self

    def cuda(self, *args, **kwargs):
        raise cpu_only("cuda()")

    @property
    def device(self):
        """minidl.device("cpu"): every tensor is on the CPU."""
        return CPU

    is_cuda = False  # PyTorch's attribute: minidl has no GPU tensors

    def type(self, dtype=None):
        """The type's name (dtype=None, e.g. 'minidl.FloatTensor'), or a cast to `dtype`."""
        if dtype is None:
            return "minidl." + _TYPE_NAMES[self.data.dtype.name]
        return ops.cast(self, dtype)

    # ----- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor with respect to every leaf into `.grad`
        (and into `.grad` of the non-leaf tensors that called retain_grad()).

        Args:
            gradient: d(something)/d(self), an array or Tensor of this tensor's shape and dtype.
                May be omitted only when this tensor has one element (a loss).
            retain_graph: keep what the graph saved, so that it can be differentiated again
                (by default a backward frees it, as in PyTorch).
            create_graph: not available (minidl's backward computes on arrays, not as a graph).
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): minidl's backward computes "
                                      "on arrays, not as a graph, so gradients of gradients "
                                      "are not available")
        if retain_graph is not None and not isinstance(retain_graph, (bool, np.bool_)):
            raise TypeError(f"backward(): expected retain_graph True, False or None, got "
                            f"{retain_graph!r}")
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                               "(was it computed under no_grad, or from tensors without "
                               "requires_grad=True?)")
        autograd.engine.backward((self,), (output_gradient(self, gradient, "backward()"),),
                                 retain_graph=bool(retain_graph))

    _retains_grad = False  # set by retain_grad() on a non-leaf tensor

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` in later backward passes, as
        PyTorch's (leaves keep theirs anyway)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad(): this tensor does not require grad, so it has no "
                               "gradient to keep")
        if self._node is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        """Whether backward keeps this non-leaf tensor's gradient (see retain_grad)."""
        return self._retains_grad

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

    # ----- operators and methods: each a small Function in minidl/ops --------------------
    # binary ops take a Tensor or a number on either side and broadcast as NumPy/PyTorch
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __abs__(self):
        return ops.abs(self)

    # in place: the same tensor and the same array, its version counter bumped (ops/inplace)
    def __iadd__(self, other):
        return ops.add_(self, other)

    def __isub__(self, other):
        return ops.sub_(self, other)

    def __imul__(self, other):
        return ops.mul_(self, other)

    def __itruediv__(self, other):
        return ops.div_(self, other)

    # comparisons: bool tensors, outside the graph
    def __eq__(self, other):
        return ops.eq(self, other)

    def __ne__(self, other):
        return ops.ne(self, other)

    def __lt__(self, other):
        return ops.lt(self, other)

    def __le__(self, other):
        return ops.le(self, other)

    def __gt__(self, other):
        return ops.gt(self, other)

    def __ge__(self, other):
        return ops.ge(self, other)

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous "
                               f"(shape {tuple(self.shape)}): use .any() or .all() of a "
                               f"comparison, or .item()")
        return bool(self.data.item())

    def __getitem__(self, key):
        return ops.index(self, key)

    def __setitem__(self, key, value):
        ops.index_put_(self, key, value)

    def reshape(self, *shape):
        return ops.reshape(self, ops.shape.shape_argument(shape, "reshape"))

    def view(self, *shape):
        return ops.reshape(self, ops.shape.shape_argument(shape, "view"))

    def expand(self, *sizes):
        return ops.expand(self, *sizes)

    @property
    def T(self) -> "Tensor":
        return ops.reversed_dims(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self


autograd.engine.Tensor = Tensor  # the engine wraps the nodes' outputs in Tensors

# imported last: the ops need the Tensor class defined above
from . import ops  # noqa: E402


# x.exp() is minidl.exp(x): these methods are the ops themselves (self is their first argument)
_OPS_AS_METHODS = ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt",
                   "sin", "cos", "sigmoid", "tanh", "relu", "clamp", "matmul", "mm", "sum",
                   "mean", "max", "min", "any", "all", "argmax", "argmin", "var", "std",
                   "logsumexp", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "flatten",
                   "view_as", "unsqueeze", "squeeze", "transpose", "permute", "t", "expand_as",
                   "add_", "sub_", "mul_", "div_", "clamp_", "fill_", "zero_", "copy_", "clone",
                   "contiguous")
for _name in _OPS_AS_METHODS:
    setattr(Tensor, _name, getattr(ops, _name))

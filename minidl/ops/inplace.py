"""In-place ops (add_, sub_, mul_, div_, zero_, fill_, copy_, clamp_, +=, -=, *=, /=) with
PyTorch's semantics.

Each one computes the out-of-place result with the ordinary op, then writes it into the
tensor's own array (same object, same .data), and adds one to the tensor's version counter,
so a backward that saved the old values refuses to run (see autograd.VersionCounter).

- Under no_grad (a manual SGD step: `p -= lr * p.grad`) this is all that happens.
- With grad enabled, a leaf that requires grad may not be modified (PyTorch's error: the
  gradient would belong to a value that no longer exists). For other tensors the op is
  recorded: the tensor's history moves to a copy of its old values, the op's node takes that
  copy as input, and the tensor becomes the op's output.
"""
from __future__ import annotations

import numpy as np

from .. import autograd
from ..tensor import Tensor
from ._promotion import category


def apply_inplace(tensor: Tensor, op: str, compute) -> Tensor:
    """tensor <- compute(tensor), in place; compute is an out-of-place op (Tensor -> Tensor)."""
    recording = autograd.is_grad_enabled()
    if recording:
        _check_may_record(tensor, op)
        source = _old_values(tensor)
    else:
        source = tensor
    result = compute(source)
    _check_fits(result, tensor, op)
    _write(tensor, result.data, op)
    if recording:
        tensor._node, tensor._requires_grad = result._node, result._requires_grad
    return tensor


def _check_may_record(tensor: Tensor, op: str) -> None:
    if tensor._node is None and tensor._requires_grad:
        raise RuntimeError(f"a leaf Variable that requires grad is being used in an in-place "
                           f"operation. ({op} on a tensor of shape {tuple(tensor.shape)}: "
                           f"wrap the update in `with minidl.no_grad():`, as an optimizer "
                           f"step does, or use the out-of-place form)")
    base = tensor._base
    if base is not None and base._requires_grad:
        kind = "a leaf Variable" if base._node is None else "a tensor"
        raise RuntimeError(f"a view of {kind} that requires grad is being used in an in-place "
                           f"operation ({op}); minidl records in-place ops on whole tensors "
                           f"only: use the out-of-place form, or no_grad() for an update")


def _old_values(tensor: Tensor) -> Tensor:
    """A copy of tensor's values that takes over its place in the graph, so the op's node
    can read them after the tensor is overwritten."""
    old = Tensor._wrap(tensor.data.copy(), requires_grad=tensor._requires_grad)
    old._node = tensor._node
    return old


def _check_fits(result: Tensor, tensor: Tensor, op: str) -> None:
    if result.shape != tensor.shape:
        raise ValueError(f"{op}: the result has shape {tuple(result.shape)}, which does not "
                         f"fit the tensor updated in place, of shape {tuple(tensor.shape)} "
                         f"(an in-place op broadcasts the other operand, never the tensor)")
    if category(result.dtype) > category(tensor.dtype):
        raise TypeError(f"{op}: the result is {result.dtype}, which cannot be stored in place "
                        f"in a {tensor.dtype} tensor (PyTorch refuses this too); use the "
                        f"out-of-place form, or convert the tensor first")


def _write(tensor: Tensor, values: np.ndarray, op: str) -> None:
    if not tensor.data.flags.writeable:
        raise ValueError(f"{op}: this tensor's memory is read-only (an expand() view, or a "
                         f"read-only array): modify a clone() instead")
    _mark_saved_outputs(tensor, op)
    np.copyto(tensor.data, values, casting="unsafe")  # the dtype was checked by _check_fits
    tensor._version.value += 1


def _mark_saved_outputs(tensor: Tensor, op: str) -> None:
    """Tell the nodes that produced `tensor` (or the tensor it is a view of), if their backward
    kept that output (sigmoid's y, exp's y), that it is being overwritten."""
    for owner in (tensor, tensor._base):
        node = owner._node if owner is not None else None
        if node is not None and any(isinstance(value, np.ndarray)
                                    and np.may_share_memory(value, tensor.data)
                                    for value in vars(node).values()):
            node.output_overwritten_by = op


# ----- the ops ---------------------------------------------------------------------------

def add_(tensor: Tensor, other, alpha=1) -> Tensor:
    from .elementwise import add
    return apply_inplace(tensor, "add_", lambda t: add(t, other, alpha=alpha))


def sub_(tensor: Tensor, other, alpha=1) -> Tensor:
    from .elementwise import sub
    return apply_inplace(tensor, "sub_", lambda t: sub(t, other, alpha=alpha))


def mul_(tensor: Tensor, other) -> Tensor:
    from .elementwise import mul
    return apply_inplace(tensor, "mul_", lambda t: mul(t, other))


def div_(tensor: Tensor, other) -> Tensor:
    from .elementwise import div
    return apply_inplace(tensor, "div_", lambda t: div(t, other))


def clamp_(tensor: Tensor, min=None, max=None) -> Tensor:
    from .elementwise import clamp
    return apply_inplace(tensor, "clamp_", lambda t: clamp(t, min, max))


def fill_(tensor: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.ndim:
            raise ValueError(f"fill_: expected a number or a 0-d tensor, got shape "
                             f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"fill_: expected a number, got {type(value).__name__}")
    if tensor.dtype.kind != "f" and not float(value).is_integer():
        raise TypeError(f"fill_: {value} cannot be stored in a {tensor.dtype} tensor")
    filled = Tensor._wrap(np.full(tensor.shape, value, dtype=tensor.dtype))
    return apply_inplace(tensor, "fill_", lambda t: filled)


def zero_(tensor: Tensor) -> Tensor:
    return fill_(tensor, 0)


def copy_(tensor: Tensor, source) -> Tensor:
    """Copy source's values (broadcast to this shape, converted to this dtype, as PyTorch)."""
    from .conversion import cast
    from .shape import expand
    if not isinstance(source, Tensor):
        raise TypeError(f"copy_: expected a Tensor, got {type(source).__name__}")
    if source.shape != tensor.shape:
        source = expand(source, tensor.shape)  # raises if it does not broadcast
    return apply_inplace(tensor, "copy_", lambda t: cast(source, tensor.dtype))

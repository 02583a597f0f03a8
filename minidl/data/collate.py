"""default_collate: a list of data set items -> one batch, with PyTorch's rules.

    default_collate([(image0, 3), (image1, 7)])  ->  [images (2, C, H, W), labels (2,) int64]

Each field of the items is collated by the type of its first item:
  - Tensors and NumPy arrays (and NumPy scalars) are stacked along a new batch dimension into
    a Tensor whose dtype follows `minidl.tensor`'s rule (float32 stays float32, float64 stays
    float64, integers become int64, float16 becomes float32); booleans give a bool Tensor;
  - Python ints become an int64 Tensor (B,), Python floats a float64 Tensor (B,), bools a bool
    Tensor;
  - str and bytes stay a list of the items' values;
  - dicts are collated key by key, tuples and lists field by field (tuples give a list, as
    PyTorch's default_collate does; namedtuples keep their type).
A batch is new data, not part of any autograd graph: stacked tensors are detached copies.
Items whose fields differ in type, shape, dtype, keys or length are refused with an error that
says which field and what differed; nothing is padded, truncated or cast to a common dtype.
"""
from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from ..tensor import Tensor, _as_array

__all__ = ["default_collate"]


def default_collate(batch: list):
    """Collate a list of items (tuples, dicts, Tensors, arrays, numbers) into a batch."""
    if not isinstance(batch, (list, tuple)) or not batch:
        raise ValueError(f"default_collate: expected a non-empty list of items, got "
                         f"{type(batch).__name__}" + (" of length 0" if not batch else ""))
    return _collate(list(batch), "item")


def _collate(values: list, where: str):
    first = values[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        return _stack_arrays(values, where)
    if isinstance(first, (str, bytes)):
        _check_same_type(values, (str, bytes), where)
        return values
    if isinstance(first, bool):  # before int: bool is an int subclass
        _check_same_type(values, bool, where)
        return Tensor._wrap(np.array(values, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        _check_same_type(values, numbers.Integral, where, exclude=bool)
        integers = [int(value) for value in values]
        return Tensor._wrap(_as_array(integers, f"default_collate: {where}"))  # int64, checked
    if isinstance(first, numbers.Real):
        _check_same_type(values, numbers.Real, where, exclude=bool)
        return Tensor._wrap(np.array([float(value) for value in values], dtype=np.float64))
    if isinstance(first, collections.abc.Mapping):
        return _collate_mapping(values, where)
    if isinstance(first, (tuple, list)):
        return _collate_sequence(values, where)
    raise TypeError(f"default_collate: {where} is a {type(first).__name__}; expected Tensors, "
                    f"NumPy arrays, numbers, str, dicts, tuples or lists (pass collate_fn= to "
                    f"the DataLoader for other types)")


def _stack_arrays(values: list, where: str) -> Tensor:
    arrays = []
    for number, value in enumerate(values):
        if not isinstance(value, (Tensor, np.ndarray, np.generic)):
            raise TypeError(f"default_collate: {where} of the first item is an array, but of "
                            f"item {number} a {type(value).__name__}")
        arrays.append(value.data if isinstance(value, Tensor) else np.asarray(value))
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: cannot stack {where} of different shapes "
                         f"{sorted(shapes)} into a batch")
    dtypes = {array.dtype for array in arrays}
    if len(dtypes) > 1:
        raise TypeError(f"default_collate: {where} has different dtypes in different items "
                        f"({', '.join(sorted(str(dtype) for dtype in dtypes))}); nothing is "
                        f"cast silently: give every item the same dtype")
    stacked = np.stack(arrays)  # a new array: the batch shares no memory with the items
    if stacked.dtype == np.bool_:
        return Tensor._wrap(stacked)
    return Tensor._wrap(_as_array(stacked, f"default_collate: {where}"))


def _check_same_type(values: list, kind, where: str, exclude=None) -> None:
    for number, value in enumerate(values):
        if not isinstance(value, kind) or (exclude is not None and isinstance(value, exclude)):
            raise TypeError(f"default_collate: {where} is a {type(values[0]).__name__} in the "
                            f"first item but a {type(value).__name__} in item {number}")


def _collate_mapping(values: list, where: str) -> dict:
    keys = list(values[0].keys())
    for number, value in enumerate(values):
        if not isinstance(value, collections.abc.Mapping) or set(value.keys()) != set(keys):
            got = sorted(map(str, value.keys())) if isinstance(value, collections.abc.Mapping) \
                else type(value).__name__
            raise ValueError(f"default_collate: {where} has keys {sorted(map(str, keys))} in "
                             f"the first item but {got} in item {number}")
    return {key: _collate([value[key] for value in values], f"{where}[{key!r}]")
            for key in keys}


def _collate_sequence(values: list, where: str):
    length = len(values[0])
    for number, value in enumerate(values):
        if not isinstance(value, (tuple, list)) or len(value) != length:
            got = f"{len(value)} fields" if isinstance(value, (tuple, list)) \
                else f"a {type(value).__name__}"
            raise ValueError(f"default_collate: {where} has {length} fields in the first item "
                             f"but {got} in item {number}")
    fields = [_collate([value[index] for value in values], f"{where}[{index}]")
              for index in range(length)]
    if isinstance(values[0], tuple) and hasattr(values[0], "_fields"):  # a namedtuple
        return type(values[0])(*fields)
    return fields

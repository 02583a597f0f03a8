"""Parameter: a Tensor that a Module registers as trainable (requires_grad=True by default)."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _as_array


class Parameter(Tensor):
    """A learnable tensor: assigning one to a Module attribute registers it in parameters().

    Optimizers update a Parameter's array in place, so where it comes from is deliberate:
    - `Parameter(array)` (NumPy array, list, ...) copies it, so `step()` never writes into the
      caller's array and a read-only one (memory-mapped, `np.broadcast_to`) trains as a
      writable copy (PyTorch refuses arrays here; copying is the safe choice);
    - `Parameter(tensor)` shares the tensor's array, as in PyTorch, which must then be
      writable and C-contiguous (float32 or float64).
    """

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad)

    @staticmethod
    def _leaf_array(data) -> np.ndarray:
        if not isinstance(data, Tensor):
            array = _as_array(data, "Parameter", copy=True)
        else:
            array = data.data
            if array.dtype.kind == "f" and not (array.flags.writeable
                                                and array.flags.c_contiguous):
                raise ValueError("Parameter(tensor): the tensor's array is read-only or not "
                                 "C-contiguous, and a Parameter shares it and is updated in "
                                 "place by optimizers; pass the array instead (Parameter "
                                 "copies arrays): Parameter(tensor.data)")
        if array.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter: expected floating point data (float32 or float64), "
                            f"got dtype {array.dtype}")
        return array

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

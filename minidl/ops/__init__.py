"""General tensor ops: plain NumPy graph nodes, not the hot path (layers call their Numba
kernels through minidl.functional).

    _broadcast.py   the shape two operands broadcast to; gradients summed back to an input
    _promotion.py   PyTorch's dtype promotion; operands checked
    elementwise.py  + - * / ** neg abs exp log sqrt sin cos sigmoid tanh relu clamp
    matmul.py       @, matmul, mm
    reductions.py   sum mean max min argmax argmin var std logsumexp any all
    shape.py        reshape/view flatten (un)squeeze transpose permute t expand cat stack
    indexing.py     x[key] (the gradient scattered back), x[key] = value
    compare.py      == != < <= > >= where allclose isnan
    inplace.py      add_ sub_ mul_ div_ zero_ fill_ copy_ clamp_, += -= *= /=
    conversion.py   casts, clone, contiguous
"""
from .compare import allclose, eq, ge, gt, isnan, le, lt, ne, where
from .conversion import cast, clone, contiguous
from .elementwise import (abs, add, clamp, cos, div, exp, log, mul, neg, pow, relu, sigmoid,
                          sin, sqrt, sub, tanh)
from .indexing import index, index_put_
from .inplace import add_, clamp_, copy_, div_, fill_, mul_, sub_, zero_
from .matmul import matmul, mm
from .reductions import (all, any, argmax, argmin, logsumexp, max, mean, min, std, sum,
                         var)
from .shape import (cat, expand, expand_as, flatten, permute, reshape, reversed_dims, squeeze,
                    stack, t, transpose, unsqueeze, view_as)

# the functions minidl exports under PyTorch's names (minidl.exp, minidl.cat, ...)
__all__ = PUBLIC = [
    "abs", "add", "all", "allclose", "any", "argmax", "argmin", "cat", "clamp", "clone", "cos",
    "div", "eq", "exp", "flatten", "ge", "gt", "isnan", "le", "log", "logsumexp", "lt",
    "matmul", "max", "mean", "min", "mm", "mul", "ne", "neg", "permute", "pow", "relu",
    "reshape", "sigmoid", "sin", "sqrt", "squeeze", "stack", "std", "sub", "sum", "t", "tanh",
    "transpose", "unsqueeze", "var", "where"]

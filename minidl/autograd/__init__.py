"""Automatic differentiation: the graph engine and PyTorch's autograd API.

    engine.py     Node (the layers' lean internal node: forward/backward on arrays), the
                  backward walk, the version counter
    grad_mode.py  no_grad, inference_mode, set_grad_enabled, is_grad_enabled (per thread)
    function.py   Function: user-defined operations with PyTorch's protocol (ctx, apply)
    functional.py grad: gradients returned instead of accumulated into .grad; backward
    gradcheck.py  gradcheck: autograd against central differences in float64
"""
from . import engine
from .engine import VersionCounter
from .function import Function, FunctionCtx
from .functional import backward, grad
from .grad_mode import inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "FunctionCtx", "backward", "grad", "gradcheck", "GradcheckError",
           "no_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled"]

"""minidl: a small deep-learning framework for the CPU whose hot loops are parallel Numba
kernels, each beside the plain NumPy reference it must agree with.

    import minidl
    from minidl import nn
    import minidl.nn.functional as F
"""
from . import kernels  # noqa: F401  (first: sets Numba's cache directory and thread policy)
from . import _allocator
from . import autograd
from .autograd import inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import current_kernels, use_kernels
from .random import Generator, manual_seed
from .serialization import load, save
from .tensor import Tensor, tensor
from . import ops
# minidl.exp, minidl.cat, ...: the names in ops.PUBLIC. They include abs, all, any, max, min,
# pow and sum (as torch's do), which hide Python's builtins in this module: use builtins.max here
from .ops import *  # noqa: F401,F403,E402
from .threads import get_num_threads, set_num_threads, show_config
# constructors (zeros, randn, from_numpy, ...), dtypes (minidl.float32, ...) and the CPU device
from .creation import *  # noqa: F401,F403,E402
from .creation import __all__ as _CREATION_NAMES
# minidl.float and minidl.bool hide the builtins in this module too (see above)
from .dtypes import PYTORCH_NAMES as _DTYPE_NAMES
from .dtypes import bool_ as bool, double, float32, float32 as float, float64, int32, int64, long
from .device import device
from . import accelerator, backends, cuda  # noqa: E402
from . import data, models, nn, optim, train  # noqa: E402
from . import utils  # noqa: E402  (minidl.utils.data: torch.utils.data's names)

__version__ = "0.1.0"

threads._apply_environment_default()  # OMP_NUM_THREADS, SLURM_CPUS_PER_TASK, CPU affinity
_allocator.keep_freed_memory()  # freed memory is reused: steps do not page-fault their arrays

__all__ = ["Tensor", "tensor", "autograd", "no_grad", "inference_mode", "is_grad_enabled",
           "set_grad_enabled",
           "manual_seed", "Generator", "save", "load",
           "use_kernels", "current_kernels", "set_num_threads", "get_num_threads", "show_config",
           "nn", "optim", "data", "models", "train", "utils", "kernels", "ops", "device", "cuda",
           "backends", "accelerator"] + ops.PUBLIC + _CREATION_NAMES + [
    # not float and bool: `from minidl import *` must leave the builtins float() and bool() be
    name for name in _DTYPE_NAMES if name not in ("float", "bool")]

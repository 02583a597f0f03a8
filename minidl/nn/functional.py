"""`import minidl.nn.functional as F`: the stateless layer functions (see minidl/functional/)."""
from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401

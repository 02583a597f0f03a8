"""A vectorisable exp and expm1 for the elementwise loops of the kernels.

Inside Numba, `math.exp` and `math.expm1` are scalar libm calls (there is no SVML here), so a
loop that calls them does not vectorise: sigmoid at (60, 100) float32 spent about 2.7 ns per
element in expf. `exp(x)` and `expm1(x)` below are written in plain arithmetic that LLVM
vectorises inside the caller's loop (packed AVX-512 instructions, checked with
`inspect_asm`): about 0.6 ns per element on one core, 4-6x faster than libm.

Use them like `math.exp` inside a `@jit` function. They dispatch on the argument's type:
- float32: the fast path below;
- float64: `math.exp` / `math.expm1` (libm, scalar, as before). A fast float64 version would
  need a Cody-Waite split that survives 'reassoc' (see below); float64 is not the training
  dtype, so it keeps libm's accuracy instead.
Called from Python (or under NUMBA_DISABLE_JIT=1) the same float32 code runs on NumPy scalars.

The float32 method (`_exp_float32`):
1. clamp x to [-104, X_MAX] (exp(-104) rounds to 0; X_MAX = 88.72283 is the largest float32
   whose exp is finite); NaN goes to the low end and is restored at the end;
2. in float64: k = rint(x / ln 2), r = x - k ln 2 (|r| <= 0.347; float64 makes this one
   rounding of about 1e-17, no hi/lo split needed), exp(r) = 1 + r + r^2 P(r) with P a
   degree-5 minimax polynomial (|error| < 6.1e-11, 0.001 float32 ulp), times 2^k built from
   its exponent bits (2^k is a normal float64 for every k in [-150, 128]);
3. one rounding to float32, which also produces float32 subnormals and underflow to 0
   correctly; x > X_MAX gives inf and NaN gives NaN by selects.
Max error over every one of the 2**32 float32 inputs, against the exact value: 0.5009 ulp
for exp, 0.5077 ulp for expm1 (0.5 is correct rounding, which 99.998% / 99.99% of results
are; NumPy's own float32 np.exp / np.expm1 reach 2.3 / 2.5 ulp on the test grid). Exact
special cases: exp(-inf) = 0, exp(+inf) = inf, exp(NaN) = NaN, overflow to inf exactly above
X_MAX, expm1(-inf) = -1, expm1(+-0) = +-0. No floating-point warnings without the JIT either.

Why float64 inside, and not a pure float32 Cody-Waite reduction (about 1.8x faster): the
implementation inherits the calling kernel's fastmath flags ('reassoc', 'contract', ...,
from _config), and with 'reassoc' LLVM folds `(x - k*ln2_hi) - k*ln2_lo` into
`x - k*ln2_float32` (seen in the IR; 2 ulp at x = 88, up to 4 by the bound) and the two-step 2^k
scaling `(p * 2^k1) * 2^k2` into `p * 2^128` = inf (exp(88.4) came out inf). The float64
form has nothing that reassociation can undo: a single `x - k ln 2`, a polynomial evaluated
in float64 (its rounding is 2^-29 of a float32 ulp, in any order), and one product.
The implementations are registered with `numba.extending.overload` and set no options of their
own: they compile into each calling kernel with that kernel's options from _config.

Note: Numba's on-disk cache of a kernel does not notice edits to this module. After changing
it, touch (or edit) activations.py and losses.py, or clear their cache files.
"""
from __future__ import annotations

import math

import numpy as np
from numba import types
from numba.extending import overload

from ._config import jit

_F32 = np.float32
_F64 = np.float64

_LOG2E = _F64(1.4426950408889634)
_LN2 = _F64(0.6931471805599453)
# P(r) ~ (exp(r) - 1 - r) / r^2 on |r| <= 0.354: degree-5 minimax, weighted by r^2 (the
# error of exp). |r^2 (P - exact)| < 6.1e-11 (0.001 float32 ulp of exp), relative error of
# r + r^2 P as expm1(r) < 5.2e-10 (0.01 ulp).
_P0 = _F64(0.5000000087704599)
_P1 = _F64(0.16666666885150863)
_P2 = _F64(0.0416662372900361)
_P3 = _F64(0.008333258672325443)
_P4 = _F64(0.001394838247259149)
_P5 = _F64(0.00019921501122138635)
_ONE = _F64(1.0)
_ZERO = _F64(0.0)

_X_MAX = _F32(88.72283172607422)  # 0x42b17217: largest float32 x with exp(x) finite in float32
_EXP_LOW = _F32(-104.0)           # exp(x) rounds to 0 below -103.97
_EXPM1_LOW = _F32(-30.0)          # expm1(x) rounds to -1 below -17.4
_INF32 = _F32(np.inf)


@jit
def _expm1_reduced(xd):
    """k = rint(xd / ln 2) and q = expm1(r) for r = xd - k ln 2, all float64 (|r| <= 0.347).
    q = r + r^2 P(r) is within 6.1e-11 absolute and 5.2e-10 relative of expm1(r)."""
    k = np.rint(xd * _LOG2E)
    r = xd - k * _LN2
    q = r + r * r * (((((_P5 * r + _P4) * r + _P3) * r + _P2) * r + _P1) * r + _P0)
    return k, q


@jit
def _pow2(k):
    """2.0**k as float64 for an integral float64 k in [-1022, 1023], from its exponent bits."""
    return np.int64((np.int64(k) + 1023) << 52).view(np.float64)


def _exp_float32(x):
    xc = x if x > _EXP_LOW else _EXP_LOW  # NaN -> _EXP_LOW too: finite work, restored below
    xc = xc if xc < _X_MAX else _X_MAX
    k, q = _expm1_reduced(_F64(xc))
    y = _F32((q + _ONE) * _pow2(k))  # the one rounding to float32 (subnormals included)
    y = _INF32 if x > _X_MAX else y
    return y if x == x else x


def _expm1_float32(x):
    xc = x if x > _EXPM1_LOW else _EXPM1_LOW
    xc = xc if xc < _X_MAX else _X_MAX
    k, q = _expm1_reduced(_F64(xc))
    scale = _pow2(k)
    # k = 0 (|x| <= 0.347): q itself, accurate relative to tiny results. Otherwise
    # |expm1(x)| >= 0.29 and 2^k q + (2^k - 1) is accurate in float64 in any association.
    y = _F32(q if k == _ZERO else scale * q + (scale - _ONE))
    y = _INF32 if x > _X_MAX else y
    return y if (x == x and x != 0) else x  # NaN, and -0.0 stays -0.0


def exp(x):
    """exp(x): the fast float32 path for float32 (NumPy) scalars, math.exp otherwise.

    This Python body runs when called from Python or under NUMBA_DISABLE_JIT=1; compiled
    callers get the overload below."""
    if isinstance(x, np.float32):
        return _exp_float32(x)
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def expm1(x):
    """expm1(x): the fast float32 path for float32 (NumPy) scalars, math.expm1 otherwise."""
    if isinstance(x, np.float32):
        return _expm1_float32(x)
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


def _libm_exp(x):
    return math.exp(x)


def _libm_expm1(x):
    return math.expm1(x)


# The implementations compile as part of the calling kernel, with its options (from _config).
@overload(exp)
def _exp_overload(x):
    if x == types.float32:
        return _exp_float32
    if x == types.float64:
        return _libm_exp
    return None


@overload(expm1)
def _expm1_overload(x):
    if x == types.float32:
        return _expm1_float32
    if x == types.float64:
        return _libm_expm1
    return None


# ---------------------------------------------------------------------------------------
# Array forms, for the accuracy tests and benchmarks (these are building blocks of other
# kernels, not ops of their own: minidl.kernels does not register this table).
# ---------------------------------------------------------------------------------------

def exp_reference(x: np.ndarray) -> np.ndarray:
    """exp(x) elementwise. x, y: (*)."""
    return np.exp(x)


def expm1_reference(x: np.ndarray) -> np.ndarray:
    """exp(x) - 1 elementwise, accurate near 0. x, y: (*)."""
    return np.expm1(x)


@jit
def _exp_serial(x, out):
    for i in range(x.size):
        out[i] = exp(x[i])


@jit
def _expm1_serial(x, out):
    for i in range(x.size):
        out[i] = expm1(x[i])


def _apply(kernel, x):
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    kernel(flat, out)
    return out.reshape(np.shape(x))


def exp_numba(x: np.ndarray) -> np.ndarray:
    return _apply(_exp_serial, x)


def expm1_numba(x: np.ndarray) -> np.ndarray:
    return _apply(_expm1_serial, x)


KERNELS = {
    "exp": (exp_reference, exp_numba),
    "expm1": (expm1_reference, expm1_numba),
}

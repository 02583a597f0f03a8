"""Activation kernels: the Numba kernels equal the NumPy references on every shape, dtype and
layout; the references are checked against independent formulas (scipy.special, float64
central finite differences) and, when it is installed, against PyTorch, edge values included.
The vectorisable float32 exp/expm1 that sigmoid and ELU use (kernels/_fastmath.py) is checked
here too: against the exactly rounded values on a dense float32 grid, at its edges and special
values, and for vectorisation in the compiled loops."""
import inspect
import platform
import re
import warnings

import numba
import numpy as np
import pytest
import scipy.special

from minidl.kernels import _config, _fastmath
from minidl.kernels import activations as act
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS

DTYPES = [np.float32, np.float64]
# Elementwise ops: only the element count matters (the last shape runs the prange drivers).
SHAPES = [(), (7,), (60, 100), (PARALLEL_MIN_ELEMENTS // 64 + 1, 8, 8)]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
SLOPE = 0.01
ALPHA = 1.3
SPECIAL = [-0.0, 0.0, np.nan, np.inf, -np.inf, -1.0, 2.0]


OPS = ["relu", "leaky_relu", "elu", "sigmoid", "tanh"]
HYPERPARAMETERS = {"leaky_relu": (SLOPE,), "elu": (ALPHA,)}


def forward_arguments(op, x):
    return (x, *HYPERPARAMETERS.get(op, ()))


def backward_arguments(op, grad_out, x, y):
    """Arguments of `<op>_backward` given the input x and the forward output y."""
    return {
        "relu": (grad_out, x),
        "leaky_relu": (grad_out, x, SLOPE),
        "elu": (grad_out, x, y, ALPHA),
        "sigmoid": (grad_out, y),
        "tanh": (grad_out, y),
    }[op]


def arguments(name, x, grad_out):
    """Arguments of kernel `name`; backward kernels get the reference's forward output."""
    op, direction = name.rsplit("_", 1)
    if direction == "forward":
        return forward_arguments(op, x)
    y = act.KERNELS[f"{op}_forward"][0](*forward_arguments(op, x))
    return backward_arguments(op, grad_out, x, y)


def random_arguments(name, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = np.asarray(3 * rng.standard_normal(shape), dtype=dtype)
    grad_out = np.asarray(rng.standard_normal(shape), dtype=dtype)
    return arguments(name, x, grad_out)


def run_both(name, args):
    reference, numba_kernel = act.KERNELS[name]
    return numba_kernel(*args), reference(*args)


# --- Numba == reference --------------------------------------------------------------------

def test_kernel_table_pairs_reference_and_numba_with_the_same_signature():
    assert set(act.KERNELS) == {f"{op}_{direction}" for op in OPS
                                for direction in ("forward", "backward")}
    for name, (reference, numba_kernel) in act.KERNELS.items():
        assert reference.__name__ == f"{name}_reference"
        assert numba_kernel.__name__ == f"{name}_numba"
        assert inspect.signature(reference) == inspect.signature(numba_kernel)


def test_shapes_cover_serial_and_parallel_drivers():
    sizes = [int(np.prod(shape)) for shape in SHAPES]
    assert min(sizes) < PARALLEL_MIN_ELEMENTS <= max(sizes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(act.KERNELS))
def test_numba_equals_reference(name, shape, dtype):
    got, want = run_both(name, random_arguments(name, shape, dtype))
    assert got.dtype == want.dtype == dtype
    assert got.shape == want.shape == shape
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=0)


@pytest.mark.parametrize("name", sorted(act.KERNELS))
def test_non_contiguous_inputs(name):
    """Transposed and strided views give the same results as contiguous copies."""
    contiguous = random_arguments(name, (60, 100), np.float32)
    views = []
    for index, argument in enumerate(contiguous):
        if isinstance(argument, np.ndarray):
            # alternate a transposed view and a strided slice, so mixed layouts meet too
            view = (np.ascontiguousarray(argument.T).T if index % 2 == 0
                    else np.repeat(argument, 2, axis=1)[:, ::2])
            assert not view.flags.c_contiguous and np.array_equal(view, argument)
            argument = view
        views.append(argument)
    got = act.KERNELS[name][1](*views)
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_allclose(got, act.KERNELS[name][0](*contiguous), rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(act.KERNELS))
def test_parallel_driver_equals_serial_driver(name, dtype, monkeypatch):
    """The prange drivers give the very same bits as the serial ones, whatever the size."""
    args = random_arguments(name, (60, 100), dtype)
    serial = act.KERNELS[name][1](*args)
    monkeypatch.setattr(act, "PARALLEL_MIN_ELEMENTS", 0)
    np.testing.assert_array_equal(act.KERNELS[name][1](*args), serial)


@pytest.mark.parametrize("op", ["leaky_relu", "elu"])
def test_python_float_hyperparameters_do_not_promote_float32(op):
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    for name in (f"{op}_forward", f"{op}_backward"):
        for kernel in act.KERNELS[name]:
            assert kernel(*arguments(name, x, x)).dtype == np.float32
        # the Numba wrapper also converts a NumPy float64 scalar to the array dtype
        fast = act.KERNELS[name][1]
        assert fast(*arguments(name, x, x)[:-1], np.float64(0.1)).dtype == np.float32


# --- Semantics at the edges (PyTorch 2.x) ---------------------------------------------------

def expected_at_special_values():
    """Forward y and gradient dy/dx at SPECIAL, as PyTorch 2.x gives them (checked against
    torch.autograd by test_numba_matches_pytorch when torch is installed). ReLU and LeakyReLU
    send NaN to their x > 0 / x <= 0 branch as PyTorch does; ELU's gradient at NaN is NaN,
    which PyTorch gives only in its vectorised loop (its scalar tail gives 1)."""
    nan, inf = np.nan, np.inf
    e = np.exp(-1.0)
    return {
        "relu": ([-0.0, 0.0, nan, inf, 0.0, 0.0, 2.0], [0, 0, 1, 1, 0, 0, 1]),
        "leaky_relu": ([-0.0, 0.0, nan, inf, -inf, -SLOPE, 2.0],
                       [SLOPE, SLOPE, SLOPE, 1, SLOPE, SLOPE, 1]),
        "elu": ([-0.0, 0.0, nan, inf, -ALPHA, ALPHA * (e - 1), 2.0],
                [ALPHA, ALPHA, nan, 1, 0, ALPHA * e, 1]),
        "sigmoid": ([0.5, 0.5, nan, 1, 0, 1 / (1 + np.e), 1 / (1 + e ** 2)],
                    [0.25, 0.25, nan, 0, 0, np.e / (1 + np.e) ** 2, e ** 2 / (1 + e ** 2) ** 2]),
        "tanh": ([-0.0, 0.0, nan, 1, -1, np.tanh(-1.0), np.tanh(2.0)],
                 [1, 1, nan, 0, 0, 1 - np.tanh(1.0) ** 2, 1 - np.tanh(2.0) ** 2]),
    }


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # references
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", [0, 1], ids=["reference", "numba"])
@pytest.mark.parametrize("op", OPS)
def test_special_values(op, implementation, dtype):
    x = np.array(SPECIAL, dtype=dtype)
    forward = act.KERNELS[f"{op}_forward"][implementation]
    backward = act.KERNELS[f"{op}_backward"][implementation]
    y_expected, slope_expected = expected_at_special_values()[op]
    y = forward(*forward_arguments(op, x))
    np.testing.assert_allclose(y, y_expected, rtol=TOLERANCE[dtype], atol=0)
    grad = backward(*backward_arguments(op, np.ones_like(x), x, y))
    np.testing.assert_allclose(grad, slope_expected, rtol=TOLERANCE[dtype], atol=0)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # references
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(60, 100), SHAPES[-1]])
@pytest.mark.parametrize("name", sorted(act.KERNELS))
def test_nan_and_inf_propagate(name, shape, dtype):
    """NaN/Inf in x (forward) or in grad_out (backward) reach the same places in both."""
    rng = np.random.default_rng(1)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    grad_out = rng.standard_normal(shape).astype(dtype)
    flat_x, flat_g = x.reshape(-1), grad_out.reshape(-1)
    flat_x[[3, 10, -1]] = [np.nan, np.inf, -np.inf]
    flat_g[[5, 20, -2]] = [np.nan, np.inf, -np.inf]
    got, want = run_both(name, arguments(name, x, grad_out))
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype], atol=0)  # NaN where NaN
    flat = got.reshape(-1)
    if name.endswith("forward"):
        assert np.isnan(flat[3]) and np.isnan(flat).sum() == 1
    else:
        # a NaN gradient stays NaN unless the op zeroes it (ReLU for x <= 0, as in PyTorch)
        assert np.isnan(flat[5]) or (name == "relu_backward" and flat_x[5] <= 0)


@pytest.mark.parametrize("implementation", [0, 1], ids=["reference", "numba"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_for_large_inputs(dtype, implementation):
    forward = act.KERNELS["sigmoid_forward"][implementation]
    x = np.array([-1000, -100, -50, -20, 0, 20, 50, 100, 1000], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from exp
        y = forward(x)
    assert y[0] == 0 and y[-1] == 1
    # against float64 expit: sigmoid(-100) = 3.8e-44 is a float32 subnormal, kept here and
    # flushed to 0 by scipy's float32 expit
    np.testing.assert_allclose(y, scipy.special.expit(x.astype(np.float64)),
                               rtol=TOLERANCE[dtype], atol=np.finfo(dtype).tiny)
    big = np.full(PARALLEL_MIN_ELEMENTS + 1, -1000, dtype=dtype)
    big[1::2] = 1000
    np.testing.assert_array_equal(forward(big), (big > 0).astype(dtype))


# --- The references against independent formulas -------------------------------------------

GRID = np.concatenate([np.linspace(-6, -0.05, 60), np.linspace(0.05, 6, 60)])  # no kink at 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_forwards_match_independent_formulas(dtype):
    x = GRID.astype(dtype)
    exact = x.astype(np.float64)
    tolerance = dict(rtol=TOLERANCE[dtype], atol=0)
    np.testing.assert_allclose(act.relu_forward_reference(x), exact * (exact > 0), **tolerance)
    np.testing.assert_allclose(act.leaky_relu_forward_reference(x, SLOPE),
                               np.maximum(exact, 0) + SLOPE * np.minimum(exact, 0), **tolerance)
    np.testing.assert_allclose(act.elu_forward_reference(x, ALPHA),
                               np.where(exact > 0, exact, ALPHA * (np.exp(exact) - 1)), **tolerance)
    np.testing.assert_allclose(act.sigmoid_forward_reference(x), scipy.special.expit(exact),
                               **tolerance)
    np.testing.assert_allclose(act.tanh_forward_reference(x),
                               2 * scipy.special.expit(2 * exact) - 1, **tolerance)


def numerical_derivative(forward, x, step=1e-6):
    """Central differences of an elementwise forward (its Jacobian is diagonal)."""
    return (forward(x + step) - forward(x - step)) / (2 * step)


@pytest.mark.parametrize("op", OPS)
def test_reference_backward_matches_finite_differences(op):
    x = GRID.copy()
    grad_out = np.random.default_rng(2).standard_normal(x.shape)
    forward = act.KERNELS[f"{op}_forward"][0]
    backward = act.KERNELS[f"{op}_backward"][0]
    derivative = numerical_derivative(lambda v: forward(*forward_arguments(op, v)), x)
    grad = backward(*backward_arguments(op, grad_out, x, forward(*forward_arguments(op, x))))
    np.testing.assert_allclose(grad, grad_out * derivative, rtol=1e-6, atol=1e-8)


# --- PyTorch, when installed ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_numba_matches_pytorch(op, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = np.concatenate([SPECIAL, 3 * rng.standard_normal(50)]).astype(dtype)
    grad_out = rng.standard_normal(x.shape).astype(dtype)
    functional = {
        "relu": torch.relu,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, SLOPE),
        "elu": lambda t: torch.nn.functional.elu(t, ALPHA),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }[op]
    tx = torch.tensor(x, requires_grad=True)
    ty = functional(tx)
    ty.backward(torch.tensor(grad_out))

    y = act.KERNELS[f"{op}_forward"][1](*forward_arguments(op, x))
    grad = act.KERNELS[f"{op}_backward"][1](*backward_arguments(op, grad_out, x, y))
    torch_grad = tx.grad.numpy()
    if op == "elu":  # PyTorch's own ELU gradient at NaN depends on the element's position
        grad, torch_grad = grad[~np.isnan(x)], torch_grad[~np.isnan(x)]
    tolerance = {np.float32: 2e-6, np.float64: 1e-14}[dtype]
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tolerance, atol=0)
    # atol: 1 - y^2 and y + alpha cancel where the gradient is small
    np.testing.assert_allclose(grad, torch_grad, rtol=tolerance, atol=tolerance)


# --- The float32 exp and expm1 of kernels/_fastmath.py --------------------------------------

F32 = np.float32
EXP_X_MAX = F32(88.72283172607422)  # largest float32 whose exp is finite in float32
JIT = not numba.config.DISABLE_JIT  # without the JIT the same code runs per NumPy scalar: slow


def float32_from_bits(bits):
    return np.asarray(bits, dtype=np.uint64).astype(np.uint32).view(np.float32)


def neighbours(center, count):
    """The `count` float32 values on each side of `center`, and center itself."""
    bits = int(np.asarray(center, dtype=np.float32).view(np.uint32))
    return float32_from_bits(np.arange(bits - count, bits + count + 1))


def dense_float32_grid():
    """Every `stride`-th float32 bit pattern of [-105, 90] (so every binade, subnormals and
    the tiny values around 0 included), plus every float32 near the edges: overflow at
    EXP_X_MAX, the first subnormal result (x = -87.34), the last nonzero one (x = -103.97),
    expm1's switch from its direct polynomial (|x| = ln(2) / 2) and +-1."""
    stride, edge = (509, 4096) if JIT else (2 ** 18, 64)
    positive = np.arange(0, 0x42B40000, stride)  # 0x42b40000 = 90.0
    parts = [float32_from_bits(positive), -float32_from_bits(np.arange(0, 0x42D20000, stride))]
    for center in (EXP_X_MAX, -87.336, -103.972, -0.34657, 0.34657, 1.0, -1.0):
        parts.append(neighbours(center, edge))
    return np.concatenate(parts)


def ulp_errors(got, exact):
    """|got - exact| in float32 ulps of the exactly rounded value (2**-149 below normals)."""
    rounded = exact.astype(np.float32)
    ulp = np.maximum(np.spacing(np.abs(rounded)).astype(np.float64), 2.0 ** -149)
    return np.abs(got.astype(np.float64) - exact) / ulp


@pytest.mark.parametrize("name, exact_function", [("exp", np.exp), ("expm1", np.expm1)])
def test_fast_exp_is_within_an_ulp_on_a_dense_float32_grid(name, exact_function):
    """Measured over all 2**32 float32 inputs: max 0.5009 ulp for exp, 0.5077 for expm1 (0.5
    is correct rounding). A pure float32 Cody-Waite version compiled with 'reassoc' reached 2-4 ulp
    (see _fastmath's docstring), which this bound catches."""
    x = dense_float32_grid()
    with np.errstate(over="ignore"):
        exact = exact_function(x.astype(np.float64))
        finite = np.isfinite(exact.astype(np.float32))
    got = _fastmath.KERNELS[name][1](x)
    assert got.dtype == np.float32 and got.shape == x.shape
    errors = ulp_errors(got[finite], exact[finite])
    assert errors.max() < 1, (errors.max(), x[finite][errors.argmax()])
    # the rest overflows: inf exactly where the exactly rounded value is inf
    assert np.all(got[~finite] == np.inf) and np.all(x[~finite] > EXP_X_MAX)


def test_fast_exp_edges_and_special_values():
    exp, expm1 = _fastmath.exp_numba, _fastmath.expm1_numba
    tiny = F32(2.0 ** -149)  # the smallest subnormal
    x = np.array([-np.inf, -1000, -104, -103.972, -100, -87.4, 0, -0.0, 1e-30, 88.7,
                  EXP_X_MAX, np.nextafter(EXP_X_MAX, F32(np.inf)), 1000, np.inf, np.nan], F32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings, JIT or not
        y, y1 = exp(x), expm1(x)
    assert y[0] == y[1] == y[2] == 0  # underflow to 0, exp(-inf) = 0
    assert y[3] == tiny  # the last nonzero result, rounded up from 0.7 * 2**-149
    assert 0 < y[4] < np.finfo(F32).tiny  # a subnormal result
    # correctly rounded there, subnormal or not
    np.testing.assert_array_equal(y[4:6], np.exp(x[4:6].astype(np.float64)).astype(F32))
    assert y[6] == y[7] == 1 and y[8] == 1
    assert np.isfinite(y[10]) and y[10] > 3.4e38 and y[9] < y[10]
    assert y[11] == y[12] == y[13] == np.inf  # overflow exactly past EXP_X_MAX; exp(inf) = inf
    assert np.isnan(y[14])
    # expm1: -1 below, tiny values and signed zeros kept, inf above, NaN kept
    assert np.all(y1[:5] == -1) and y1[5] == -1
    assert y1[6] == 0 and not np.signbit(y1[6]) and y1[7] == 0 and np.signbit(y1[7])
    assert y1[8] == F32(1e-30)
    assert np.all(y1[11:14] == np.inf) and np.isfinite(y1[10]) and np.isnan(y1[14])


def test_fast_exp_keeps_float64_on_libm():
    x = np.linspace(-700, 700, 1001)
    np.testing.assert_allclose(_fastmath.exp_numba(x), np.exp(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(_fastmath.expm1_numba(x), np.expm1(x), rtol=1e-15, atol=0)
    assert _fastmath.exp_numba(x).dtype == np.float64


@pytest.mark.parametrize("op", ["sigmoid", "elu"])
def test_float32_sigmoid_and_elu_are_within_a_few_ulp_of_exact(op):
    """Beyond the 1e-5 of the comparisons with the reference: the float32 forwards against
    float64 scipy on a dense grid, subnormal sigmoids included (atol of 2 subnormal steps)."""
    x = np.linspace(-110, 110, 200001 if JIT else 2001, dtype=np.float32)
    exact = x.astype(np.float64)
    if op == "sigmoid":
        got, want = act.sigmoid_forward_numba(x), scipy.special.expit(exact)
    else:
        got, want = act.elu_forward_numba(x, ALPHA), np.where(exact > 0, exact,
                                                              ALPHA * np.expm1(exact))
    np.testing.assert_allclose(got, want, rtol=3 * np.finfo(np.float32).eps, atol=2 ** -148)


def fresh_assembly(dispatcher, *args):
    """Assembly of a kernel's Python function compiled now with minidl's options (a
    dispatcher loaded from the on-disk cache cannot be inspected)."""
    options = dict(_config._OPTIONS, cache=False)
    fresh = numba.njit(**options)(dispatcher.py_func)
    fresh(*args)
    return fresh.inspect_asm(fresh.signatures[0])


PACKED_ARITHMETIC = re.compile(r"\bv?(?:mul|add|sub|div|fn?madd\d*)p[sd]\s[^\n]*%[xyz]mm")
LIBM_EXP_CALL = re.compile(r"\b(?:exp|expf|expm1|expm1f)(?:@\w+)?\b")


@pytest.mark.skipif(not JIT, reason="inspects compiled code")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 asm")
@pytest.mark.parametrize("name", ["_sigmoid_forward_serial", "_elu_forward_serial"])
def test_float32_exp_loops_vectorise_without_libm_calls(name):
    x = np.linspace(-5, 5, 1000, dtype=np.float32)
    args = (x, F32(ALPHA), np.empty_like(x)) if "elu" in name else (x, np.empty_like(x))
    assembly = fresh_assembly(getattr(act, name), *args)
    assert len(PACKED_ARITHMETIC.findall(assembly)) >= 10
    assert not LIBM_EXP_CALL.search(assembly)

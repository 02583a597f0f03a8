"""Loss kernels (log-softmax, softmax, fused softmax + cross-entropy, squared error): the Numba
kernels equal the NumPy references; the references are checked against scipy.special and
float64 central finite differences, and against PyTorch when it is installed. The float32
exponentials of the softmax kernels come from kernels/_fastmath.py (tested for accuracy in
test_activations.py): here, that their loops no longer call libm's expf."""
import inspect
import platform
import re

import numba
import numpy as np
import pytest
import scipy.special

from minidl.kernels import _config, activations, losses
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS

DTYPES = [np.float32, np.float64]
# (N, C) logits: tiny, MNIST's batch of 60 with 10 classes, and one past the parallel threshold
SHAPES = [(1, 1), (3, 5), (60, 10), (PARALLEL_MIN_ELEMENTS // 100 + 1, 100)]
# float32 log-probabilities near 0 are log(1 + tiny) and carry absolute, not relative,
# rounding of the sum (a few ulp of 1.0): hence atol on the O(1) scale of the outputs
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def tolerance(name, dtype, n_classes):
    """TOLERANCE, with atol scaled by sqrt(C) for the softmax backward kernels: they subtract
    a row sum of C terms whose rounding (about sqrt(C) ulp, depending on the summation order,
    which differs between NumPy, the vectorised kernel and NUMBA_DISABLE_JIT) is absolute."""
    rtol, atol = TOLERANCE[dtype]["rtol"], TOLERANCE[dtype]["atol"]
    if name in ("log_softmax_backward", "softmax_backward"):
        atol *= np.sqrt(n_classes)
    return dict(rtol=rtol, atol=atol)


def make_inputs(shape, dtype, seed=0, scale=3.0):
    """Logits x (N, C), grad_out (N, C), class targets (N,) int64, regression targets (N, C)."""
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal(shape)).astype(dtype)
    grad_out = rng.standard_normal(shape).astype(dtype)
    target = rng.integers(0, shape[-1], shape[0])
    values = rng.standard_normal(shape).astype(dtype)
    return x, grad_out, target, values


def arguments(name, x, grad_out, target, values):
    """Arguments of kernel `name`; backward kernels get the reference's forward output."""
    return {
        "log_softmax_forward": (x,),
        "log_softmax_backward": (grad_out, losses.log_softmax_forward_reference(x)),
        "softmax_forward": (x,),
        "softmax_backward": (grad_out, losses.softmax_forward_reference(x)),
        "softmax_cross_entropy": (x, target),
        "squared_error_forward": (x, values),
        "squared_error_backward": (grad_out, x, values),
    }[name]


def as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def run_both(name, args):
    reference, numba_kernel = losses.KERNELS[name]
    return as_list(numba_kernel(*args)), as_list(reference(*args))


# --- Numba == reference --------------------------------------------------------------------

def test_kernel_table_pairs_reference_and_numba_with_the_same_signature():
    assert set(losses.KERNELS) == {
        "log_softmax_forward", "log_softmax_backward", "softmax_forward", "softmax_backward",
        "softmax_cross_entropy", "squared_error_forward", "squared_error_backward"}
    for name, (reference, numba_kernel) in losses.KERNELS.items():
        assert reference.__name__ == f"{name}_reference"
        assert numba_kernel.__name__ == f"{name}_numba"
        assert inspect.signature(reference) == inspect.signature(numba_kernel)


def test_shapes_cover_serial_and_parallel_drivers():
    sizes = [int(np.prod(shape)) for shape in SHAPES]
    assert min(sizes) < PARALLEL_MIN_ELEMENTS <= max(sizes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(losses.KERNELS))
def test_numba_equals_reference(name, shape, dtype):
    actual, expected = run_both(name, arguments(name, *make_inputs(shape, dtype)))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype == dtype
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **tolerance(name, dtype, shape[-1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_squared_error_takes_any_shape(shape, dtype):
    x, grad_out, values = (np.asarray(np.random.default_rng(seed).standard_normal(shape),
                                      dtype=dtype) for seed in range(3))
    for name, args in [("squared_error_forward", (x, values)),
                       ("squared_error_backward", (grad_out, x, values))]:
        [got], [want] = run_both(name, args)
        assert got.shape == want.shape == shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


@pytest.mark.parametrize("name", sorted(losses.KERNELS))
def test_non_contiguous_inputs(name):
    """Transposed and strided views give the same results as contiguous copies."""
    contiguous = arguments(name, *make_inputs((60, 10), np.float32))
    views = []
    for index, argument in enumerate(contiguous):
        if argument.ndim == 1:  # targets: every other element of a longer array
            view = np.repeat(argument, 2)[::2]
        elif index % 2 == 0:  # alternate layouts, so mixed layouts meet too
            view = np.ascontiguousarray(argument.T).T
        else:
            view = np.repeat(argument, 2, axis=1)[:, ::2]
        assert not view.flags.c_contiguous and np.array_equal(view, argument)
        views.append(view)
    actual = as_list(losses.KERNELS[name][1](*views))
    expected = as_list(losses.KERNELS[name][0](*contiguous))
    for got, want in zip(actual, expected):
        assert got.flags.c_contiguous and got.dtype == np.float32
        np.testing.assert_allclose(got, want, **tolerance(name, np.float32, 10))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(losses.KERNELS))
def test_parallel_driver_equals_serial_driver(name, dtype, monkeypatch):
    """Each row (element) is computed by the same code in either driver: same bits."""
    args = arguments(name, *make_inputs((60, 10), dtype))
    serial = as_list(losses.KERNELS[name][1](*args))
    monkeypatch.setattr(losses, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(activations, "PARALLEL_MIN_ELEMENTS", 0)  # squared error's wrapper
    for got, want in zip(as_list(losses.KERNELS[name][1](*args)), serial):
        np.testing.assert_array_equal(got, want)


# --- Semantics: stability, NaN and Inf ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("implementation", [0, 1], ids=["reference", "numba"])
def test_extreme_logits_stay_finite_and_accurate(implementation, dtype):
    """Logits of order 1e4 overflow exp without the max shift; with it every output is finite
    and matches float64 scipy on the same values."""
    x, grad_out, target, _ = make_inputs((60, 10), dtype, seed=4, scale=1e4)
    x[:, 3] = x[:, 2] + 1  # near-ties at large magnitude: small, accurate losses
    exact = x.astype(np.float64)
    pick = losses.KERNELS
    loss, grad = pick["softmax_cross_entropy"][implementation](x, target)
    log_probs = pick["log_softmax_forward"][implementation](x)
    probs = pick["softmax_forward"][implementation](x)
    for array in (loss, grad, log_probs, probs):
        assert np.isfinite(array).all()
    rows = np.arange(len(x))
    expected_loss = scipy.special.logsumexp(exact, axis=1) - exact[rows, target]
    # the float32 shift x - max is exact (Sterbenz) when close, so the loss keeps rtol
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log_probs, scipy.special.log_softmax(exact, axis=1), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(probs, scipy.special.softmax(exact, axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-6)


def special_rows(shape, dtype):
    """Logits whose rows 0-3 hold +inf, NaN, a -inf among finite values, and only -inf."""
    x, grad_out, target, values = make_inputs(shape, dtype, seed=5)
    x[0, 1] = np.inf
    x[1, 2] = np.nan
    x[2, 0] = -np.inf
    x[3] = -np.inf
    target[2] = 1
    return x, grad_out, target, values


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the references
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), SHAPES[-1]])
@pytest.mark.parametrize("implementation", [0, 1], ids=["reference", "numba"])
def test_rows_with_inf_or_nan_become_nan_like_pytorch(implementation, shape, dtype):
    x, _, target, _ = special_rows(shape, dtype)
    pick = losses.KERNELS
    log_probs = pick["log_softmax_forward"][implementation](x)
    probs = pick["softmax_forward"][implementation](x)
    loss, grad = pick["softmax_cross_entropy"][implementation](x, target)
    nan_rows = [0, 1, 3]  # +inf, NaN, all -inf: NaN everywhere in the row, as in PyTorch
    for array in (log_probs, probs, grad):
        assert np.isnan(array[nan_rows]).all()
        assert np.isfinite(array[4:]).all()
    assert np.isnan(loss[nan_rows]).all() and np.isfinite(loss[2:3]).all()
    assert np.isfinite(loss[4:]).all()
    # a -inf logit among finite ones: probability 0, log-probability -inf, the rest finite
    assert log_probs[2, 0] == -np.inf and np.isfinite(log_probs[2, 1:]).all()
    assert probs[2, 0] == 0 and np.isfinite(grad[2]).all()
    np.testing.assert_allclose(probs[2].sum(), 1, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the references
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 5), SHAPES[-1]])
@pytest.mark.parametrize("name", sorted(losses.KERNELS))
def test_nan_and_inf_reach_the_same_places(name, shape, dtype):
    x, grad_out, target, values = special_rows(shape, dtype)
    grad_out[4, 0] = np.nan
    grad_out[5, 1] = np.inf
    values[5, 2] = np.nan
    actual, expected = run_both(name, arguments(name, x, grad_out, target, values))
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, **tolerance(name, dtype, shape[-1]))  # NaN too
    if name in ("log_softmax_backward", "softmax_backward"):
        # a NaN in grad_out spreads through the row's sum to its whole row, and only there
        assert np.isnan(actual[0][4]).all() and np.isfinite(actual[0][6:]).all()


def test_cross_entropy_of_a_minus_inf_target_logit_is_inf():
    x = np.array([[-np.inf, 0.0, 1.0]])
    for implementation in losses.KERNELS["softmax_cross_entropy"]:
        loss, grad = implementation(x, np.array([0]))
        assert loss[0] == np.inf
        np.testing.assert_allclose(grad, [[-1.0, 1 / (1 + np.e), np.e / (1 + np.e)]])


# --- The references against independent formulas -------------------------------------------

@pytest.mark.parametrize("shape", [(3, 5), (60, 10)])
def test_references_match_scipy(shape):
    x, _, target, _ = make_inputs(shape, np.float64, seed=6)
    rows = np.arange(shape[0])
    close = dict(rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(losses.log_softmax_forward_reference(x),
                               scipy.special.log_softmax(x, axis=1), **close)
    np.testing.assert_allclose(losses.softmax_forward_reference(x),
                               scipy.special.softmax(x, axis=1), **close)
    loss, grad = losses.softmax_cross_entropy_reference(x, target)
    np.testing.assert_allclose(loss, scipy.special.logsumexp(x, axis=1) - x[rows, target],
                               **close)
    onehot = np.eye(shape[1])[target]
    np.testing.assert_allclose(grad, scipy.special.softmax(x, axis=1) - onehot, **close)


def numerical_gradient(loss, array, step=1e-6):
    """Central differences of loss() with respect to `array`, which is perturbed in place."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        plus = loss()
        array[index] = saved - step
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


FD_TOLERANCE = dict(rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("op", ["log_softmax", "softmax"])
def test_reference_backward_matches_finite_differences(op):
    x, grad_out, _, _ = make_inputs((3, 5), np.float64, seed=7)
    forward, backward = (losses.KERNELS[f"{op}_forward"][0], losses.KERNELS[f"{op}_backward"][0])
    numeric = numerical_gradient(lambda: np.sum(grad_out * forward(x)), x)
    np.testing.assert_allclose(backward(grad_out, forward(x)), numeric, **FD_TOLERANCE)


@pytest.mark.parametrize("implementation", [0, 1], ids=["reference", "numba"])
def test_cross_entropy_gradient_matches_finite_differences(implementation):
    """grad_logits row i is the gradient of loss i alone: sum_i w_i loss_i has gradient
    w_i * grad_logits[i]."""
    kernel = losses.KERNELS["softmax_cross_entropy"][implementation]
    x, _, target, _ = make_inputs((4, 6), np.float64, seed=8)
    weights = np.random.default_rng(9).standard_normal(4)
    numeric = numerical_gradient(lambda: np.sum(weights * kernel(x, target)[0]), x)
    np.testing.assert_allclose(weights[:, None] * kernel(x, target)[1], numeric, **FD_TOLERANCE)


def test_reference_squared_error_backward_matches_finite_differences():
    x, grad_out, _, values = make_inputs((3, 4), np.float64, seed=10)
    numeric = numerical_gradient(
        lambda: np.sum(grad_out * losses.squared_error_forward_reference(x, values)), x)
    np.testing.assert_allclose(losses.squared_error_backward_reference(grad_out, x, values),
                               numeric, **FD_TOLERANCE)


# --- PyTorch, when installed ----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_matches_pytorch(dtype):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x, grad_out, target, _ = special_rows((8, 7), dtype)

    for op, torch_op in [("log_softmax", torch.log_softmax), ("softmax", torch.softmax)]:
        tx = torch.tensor(x, requires_grad=True)
        ty = torch_op(tx, 1)
        ty.backward(torch.tensor(grad_out))
        y = losses.KERNELS[f"{op}_forward"][1](x)
        np.testing.assert_allclose(y, ty.detach().numpy(), **TOLERANCE[dtype])
        np.testing.assert_allclose(losses.KERNELS[f"{op}_backward"][1](grad_out, y),
                                   tx.grad.numpy(), **tolerance(f"{op}_backward", dtype, 7))

    tx = torch.tensor(x, requires_grad=True)
    weights = np.random.default_rng(11).standard_normal(len(x)).astype(dtype)
    torch_loss = functional.cross_entropy(tx, torch.tensor(target), reduction="none")
    torch_loss.backward(torch.tensor(weights))
    loss, grad = losses.softmax_cross_entropy_numba(x, target)
    np.testing.assert_allclose(loss, torch_loss.detach().numpy(), **TOLERANCE[dtype])
    np.testing.assert_allclose(weights[:, None] * grad, tx.grad.numpy(), **TOLERANCE[dtype])

    values = make_inputs((8, 7), dtype)[3]
    tx = torch.tensor(x[4:], requires_grad=True)
    torch_loss = functional.mse_loss(tx, torch.tensor(values[4:]), reduction="none")
    torch_loss.backward(torch.tensor(grad_out[4:]))
    np.testing.assert_allclose(losses.squared_error_forward_numba(x[4:], values[4:]),
                               torch_loss.detach().numpy(), **TOLERANCE[dtype])
    np.testing.assert_allclose(
        losses.squared_error_backward_numba(grad_out[4:], x[4:], values[4:]),
        tx.grad.numpy(), **TOLERANCE[dtype])


# --- float32 exp: vectorised arithmetic, not libm calls ------------------------------------

@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="inspects compiled code")
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 asm")
@pytest.mark.parametrize("name", ["log_softmax_forward", "log_softmax_backward", "softmax_forward",
                                  "softmax_cross_entropy"])
def test_float32_exp_loops_vectorise_without_libm_calls(name):
    x, grad_out, target, _ = make_inputs((4, 100), np.float32)
    args = {"log_softmax_forward": (x, np.empty_like(x)),
            "log_softmax_backward": (grad_out, x, np.empty_like(x)),
            "softmax_forward": (x, np.empty_like(x)),
            "softmax_cross_entropy": (x, target, np.empty(4, np.float32), np.empty_like(x))}[name]
    # a fresh compilation with minidl's options: a dispatcher loaded from the on-disk cache
    # cannot be inspected
    fresh = numba.njit(**dict(_config._OPTIONS, cache=False))(
        getattr(losses, f"_{name}_serial").py_func)
    fresh(*args)
    assembly = fresh.inspect_asm(fresh.signatures[0])
    assert len(re.findall(r"\bv?(?:mul|add|sub|div|fn?madd\d*)p[sd]\s[^\n]*%[xyz]mm", assembly)) >= 10
    assert not re.search(r"\b(?:exp|expf)(?:@\w+)?\b", assembly)

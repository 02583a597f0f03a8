"""BatchNorm kernels: the Numba kernels equal the NumPy references, and the references are
checked against central finite differences (and PyTorch when it is installed)."""
import inspect

import numpy as np
import pytest

from minidl.kernels import batchnorm as bn
from minidl.kernels._config import PARALLEL_MIN_ELEMENTS

DTYPES = [np.float32, np.float64]
# (N, C, L): the caller's views of (N, C) [L == 1], (N, C, L) and (N, C, H, W) [L = H*W].
SHAPES = [
    (2, 3, 1),      # columns kernel, serial
    (60, 100, 1),   # columns kernel, serial: BatchNorm1d in the MNIST MLP
    (8, 4, 5),      # rows kernel, serial
    (16, 32, 64),   # rows kernel, parallel (exactly the threshold)
    (8, 16, 300),   # rows kernel, parallel
    (256, 160, 1),  # columns kernel, parallel
]
EPS = 1e-5
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def assert_close(actual, expected, dtype):
    """Equal up to rounding: rtol, and atol relative to the largest value (sums and the
    gradients of near-constant channels have no meaningful relative error near 0)."""
    tolerance = TOLERANCE[dtype]
    scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def make_inputs(shape, dtype, seed=0, mean=0.5):
    """x, weight, bias, grad_out, running mean, running var for an (N, C, L) shape."""
    rng = np.random.default_rng(seed)
    channels = shape[1]
    x = (mean + 2 * rng.standard_normal(shape)).astype(dtype)
    weight = rng.uniform(0.5, 1.5, channels).astype(dtype)
    bias = rng.standard_normal(channels).astype(dtype)
    grad_out = rng.standard_normal(shape).astype(dtype)
    running_mean = rng.standard_normal(channels).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, channels).astype(dtype)
    return x, weight, bias, grad_out, running_mean, running_var


def as_list(result):
    """A kernel's outputs as a list (eval forward returns one array, the others tuples)."""
    return [result] if isinstance(result, np.ndarray) else list(result)


def run_both(name, *args):
    """Results of the Numba kernel `name` and of its reference on the same arguments."""
    reference, numba_kernel = bn.KERNELS[name]
    return as_list(numba_kernel(*args)), as_list(reference(*args))


def arguments(name, shape, dtype):
    """Arguments of kernel `name`; backward kernels get the reference's saved statistics."""
    x, weight, bias, grad_out, running_mean, running_var = make_inputs(shape, dtype)
    _, mean, invstd, _ = bn.batch_norm_forward_train_reference(x, weight, bias, EPS)
    running_invstd = (1 / np.sqrt(running_var + EPS)).astype(dtype)
    return {
        "batch_norm_forward_train": (x, weight, bias, EPS),
        "batch_norm_relu_forward_train": (x, weight, bias, EPS),
        "batch_norm_forward_eval": (x, running_mean, running_var, weight, bias, EPS),
        "batch_norm_backward_train": (grad_out, x, mean, invstd, weight),
        "batch_norm_relu_backward_train": (grad_out, x, mean, invstd, weight, bias),
        "batch_norm_backward_eval": (grad_out, x, running_mean, running_invstd, weight),
    }[name]


# --- Numba == reference ----------------------------------------------------------------------

def test_kernel_table_pairs_reference_and_numba_with_the_same_signature():
    assert set(bn.KERNELS) == {
        "batch_norm_forward_train", "batch_norm_forward_eval", "batch_norm_backward_train",
        "batch_norm_backward_eval", "batch_norm_relu_forward_train",
        "batch_norm_relu_backward_train"}
    for name, (reference, numba_kernel) in bn.KERNELS.items():
        assert reference.__name__ == f"{name}_reference"
        assert numba_kernel.__name__ == f"{name}_numba"
        assert inspect.signature(reference) == inspect.signature(numba_kernel)


def test_shapes_cover_every_kernel_variant():
    variants = {(shape[2] == 1, np.prod(shape) >= PARALLEL_MIN_ELEMENTS) for shape in SHAPES}
    assert variants == {(True, False), (True, True), (False, False), (False, True)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(bn.KERNELS))
def test_numba_equals_reference(name, shape, dtype):
    actual, expected = run_both(name, *arguments(name, shape, dtype))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype == dtype
        assert got.shape == want.shape
        assert_close(got, want, dtype)


@pytest.mark.parametrize("shape", [(8, 4, 5), (60, 100, 1)])
@pytest.mark.parametrize("name", sorted(bn.KERNELS))
def test_non_contiguous_inputs(name, shape):
    """Transposed views for (N, C, L) arrays and strided views for (C,) arrays give the same
    results as contiguous copies."""
    contiguous = arguments(name, shape, np.float32)

    def strided(array):
        if not isinstance(array, np.ndarray):
            return array
        if array.ndim == 3:
            view = np.ascontiguousarray(array.transpose(2, 1, 0)).transpose(2, 1, 0)
        else:
            view = np.repeat(array, 2)[::2]
        assert not view.flags.c_contiguous and np.array_equal(view, array)
        return view

    actual = as_list(bn.KERNELS[name][1](*[strided(argument) for argument in contiguous]))
    expected = as_list(bn.KERNELS[name][0](*contiguous))
    for got, want in zip(actual, expected):
        assert got.flags.c_contiguous
        assert_close(got, want, np.float32)


def run_train_step(forward, backward, x, weight, bias, grad_out):
    """A fused BatchNorm+ReLU forward and backward through the private drivers (rows)."""
    channels, dtype = x.shape[1], x.dtype.type
    y, grad_input = np.empty_like(x), np.empty_like(x)
    mean, invstd, var, grad_weight, grad_bias = (np.empty(channels, dtype) for _ in range(5))
    forward(x, weight, bias, dtype(EPS), True, y, mean, invstd, var)
    backward(grad_out, x, mean, invstd, weight, bias, True, True, grad_input, grad_weight,
             grad_bias)
    return [y, mean, invstd, var, grad_input, grad_weight, grad_bias]


@pytest.mark.parametrize("dtype", DTYPES)
def test_serial_and_parallel_variants_agree(dtype):
    x, weight, bias, grad_out, _, _ = make_inputs((8, 16, 300), dtype)
    serial = run_train_step(bn._forward_train_rows_serial, bn._backward_rows_serial,
                            x, weight, bias, grad_out)
    parallel = run_train_step(bn._forward_train_rows_parallel, bn._backward_rows_parallel,
                              x, weight, bias, grad_out)
    for got, want in zip(parallel, serial):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("shape", [(8, 16, 300), (256, 160, 1)])
def test_parallel_results_do_not_depend_on_the_thread_count(shape):
    """Partial sums are laid out by shape (per row or per fixed block), never per thread."""
    import numba

    assert np.prod(shape) >= PARALLEL_MIN_ELEMENTS
    x, weight, bias, grad_out, _, _ = make_inputs(shape, np.float32)

    def step():
        y, mean, invstd, var = bn.batch_norm_relu_forward_train_numba(x, weight, bias, EPS)
        grads = bn.batch_norm_relu_backward_train_numba(grad_out, x, mean, invstd, weight, bias)
        return [y, mean, invstd, var, *grads]

    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = step()
    finally:
        numba.set_num_threads(threads)
    for got, want in zip(step(), one_thread):
        np.testing.assert_array_equal(got, want)


# --- Semantics -------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", [bn.batch_norm_forward_train_reference,
                                    bn.batch_norm_forward_train_numba])
def test_variance_is_biased(kernel):
    # channel 0 holds 1, 2, 3, 4: biased variance 1.25 (divided by N*L = 4), unbiased 5/3
    x = np.array([[[1.0, 2.0], [0.0, 0.0]], [[3.0, 4.0], [5.0, 5.0]]])
    y, mean, invstd, var = kernel(x, np.ones(2), np.zeros(2), EPS)
    np.testing.assert_allclose(mean, [2.5, 2.5])
    np.testing.assert_allclose(var, [1.25, 6.25])
    np.testing.assert_allclose(invstd, 1 / np.sqrt(np.array([1.25, 6.25]) + EPS))
    x = make_inputs((8, 4, 5), np.float64)[0]
    var = kernel(x, np.ones(4), np.zeros(4), EPS)[3]
    np.testing.assert_allclose(var, x.var(axis=(0, 2), ddof=0), rtol=1e-12)


@pytest.mark.parametrize("shape", [(8, 4, 5), (60, 100, 1)])
@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_fused_relu_equals_batch_norm_then_relu(shape, implementation):
    index = 0 if implementation == "reference" else 1
    forward, backward = (bn.KERNELS["batch_norm_forward_train"][index],
                         bn.KERNELS["batch_norm_backward_train"][index])
    fused_forward, fused_backward = (bn.KERNELS["batch_norm_relu_forward_train"][index],
                                     bn.KERNELS["batch_norm_relu_backward_train"][index])
    for dtype in DTYPES:
        x, weight, bias, grad_out, _, _ = make_inputs(shape, dtype)
        y, mean, invstd, var = forward(x, weight, bias, EPS)
        fused = fused_forward(x, weight, bias, EPS)
        np.testing.assert_array_equal(fused[1:], (mean, invstd, var))
        assert_close(fused[0], np.maximum(y, 0), dtype)
        assert (y < 0).any() and (fused[0] >= 0).all()

        grad_y = np.where(y > 0, grad_out, 0).astype(dtype)  # relu's backward
        for got, want in zip(fused_backward(grad_out, x, mean, invstd, weight, bias),
                             backward(grad_y, x, mean, invstd, weight)):
            assert_close(got, want, dtype)


@pytest.mark.parametrize("shape", [(8, 16, 300), (60, 100, 1), (8, 4, 5), (256, 160, 1)])
def test_float32_statistics_of_large_mean_data_are_accurate(shape):
    """x = 1000 + noise: float32 results match the float64 reference of the same values
    (unshifted E[x^2] - E[x]^2 in float32 would lose every digit of the variance)."""
    x, weight, bias, grad_out, _, _ = make_inputs(shape, np.float32, seed=1, mean=1000.0)
    y, mean, invstd, var = bn.batch_norm_forward_train_numba(x, weight, bias, EPS)
    exact = bn.batch_norm_forward_train_reference(x.astype(np.float64), weight.astype(np.float64),
                                                  bias.astype(np.float64), EPS)
    np.testing.assert_allclose(mean, exact[1], rtol=1e-7)
    np.testing.assert_allclose(var, exact[3], rtol=1e-6)
    np.testing.assert_allclose(invstd, exact[2], rtol=1e-6)
    # mean rounded to float32 is off by up to ulp(1000)/2 = 3e-5, times invstd * weight
    np.testing.assert_allclose(y, exact[0], atol=1e-4)

    grads = bn.batch_norm_backward_train_numba(grad_out, x, mean, invstd, weight)
    exact_grads = bn.batch_norm_backward_train_reference(
        *(a.astype(np.float64) for a in (grad_out, x, mean, invstd, weight)))
    for got, want in zip(grads, exact_grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


# --- NaN and Inf -----------------------------------------------------------------------------

NAN_SHAPES = [(8, 4, 5), (60, 100, 1), (8, 16, 300), (256, 160, 1)]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the reference
@pytest.mark.parametrize("shape", NAN_SHAPES)
@pytest.mark.parametrize("name", ["batch_norm_forward_train", "batch_norm_relu_forward_train"])
def test_nan_or_inf_in_a_channel_makes_that_channel_nan(name, shape):
    x, weight, bias = make_inputs(shape, np.float32)[:3]
    x[1, 2, -1] = np.nan
    x[0, 0, 0] = np.inf  # the first value: the pivot of the shifted sums
    x[-1, 1, 0] = -np.inf
    actual, expected = run_both(name, x, weight, bias, EPS)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # NaN/Inf in the same places
    y, mean, invstd, var = actual
    assert np.isnan(y[:, :3]).all() and np.isfinite(y[:, 3:]).all()
    assert np.isnan(var[:3]).all() and np.isnan(invstd[:3]).all()
    np.testing.assert_array_equal(mean[:3], [np.inf, -np.inf, np.nan])  # like PyTorch


@pytest.mark.parametrize("shape", NAN_SHAPES)
@pytest.mark.parametrize("name", ["batch_norm_backward_train", "batch_norm_relu_backward_train",
                                  "batch_norm_backward_eval"])
def test_nan_gradient_propagates(name, shape):
    args = list(arguments(name, shape, np.float32))
    x, weight, bias = make_inputs(shape, np.float32)[:3]
    # a position that the fused ReLU lets through (where it blocks, the gradient is 0 even
    # for NaN, as in torch's threshold_backward)
    n, l = np.argwhere(bn.batch_norm_forward_train_reference(x, weight, bias, EPS)[0][:, 2] > 0)[0]
    args[0][n, 2, l] = np.nan  # grad_out
    actual, expected = run_both(name, *args)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    grad_input, grad_weight, grad_bias = actual
    if name == "batch_norm_backward_eval":  # constant statistics: only that element
        assert np.isnan(grad_input).sum() == 1 and np.isnan(grad_input[n, 2, l])
    else:  # through the batch mean and variance: the whole channel
        assert np.isnan(grad_input[:, 2]).all() and np.isfinite(np.delete(grad_input, 2, 1)).all()
    assert np.isnan(grad_weight[2]) and np.isnan(grad_bias[2])
    assert np.isfinite(np.delete(grad_weight, 2)).all()


@pytest.mark.parametrize("shape", [(8, 4, 5), (60, 100, 1)])
def test_eval_forward_nan(shape):
    x, running_mean, running_var, weight, bias = [
        make_inputs(shape, np.float32)[i] for i in (0, 4, 5, 1, 2)]
    x[1, 0, 0] = np.nan
    running_var[3] = np.nan
    actual, expected = run_both("batch_norm_forward_eval", x, running_mean, running_var, weight,
                                bias, EPS)
    np.testing.assert_allclose(actual[0], expected[0], rtol=1e-5, atol=1e-5)
    assert np.isnan(actual[0][1, 0, 0]) and np.isnan(actual[0][:, 3]).all()
    assert np.isnan(actual[0]).sum() == 1 + actual[0][:, 3].size


# --- The references against finite differences (float64) -------------------------------------

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


def check_gradients(loss, arrays, analytic):
    for array, grad in zip(arrays, analytic):
        np.testing.assert_allclose(grad, numerical_gradient(loss, array), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(3, 2, 4), (5, 3, 1)])
def test_reference_train_backward_matches_finite_differences(shape):
    x, weight, bias, direction, _, _ = make_inputs(shape, np.float64, seed=2)

    def loss():  # the batch statistics are recomputed from x: the gradient flows through them
        return np.sum(bn.batch_norm_forward_train_reference(x, weight, bias, EPS)[0] * direction)

    _, mean, invstd, _ = bn.batch_norm_forward_train_reference(x, weight, bias, EPS)
    analytic = bn.batch_norm_backward_train_reference(direction, x, mean, invstd, weight)
    check_gradients(loss, [x, weight, bias], analytic)


@pytest.mark.parametrize("shape", [(3, 2, 4), (5, 3, 1)])
def test_reference_relu_backward_matches_finite_differences(shape):
    x, weight, bias, direction, _, _ = make_inputs(shape, np.float64, seed=3)
    y, mean, invstd, _ = bn.batch_norm_forward_train_reference(x, weight, bias, EPS)
    assert (y < 0).any() and np.abs(y).min() > 1e-3  # ReLU's kink is far from every value

    def loss():
        return np.sum(bn.batch_norm_relu_forward_train_reference(x, weight, bias, EPS)[0]
                      * direction)

    analytic = bn.batch_norm_relu_backward_train_reference(direction, x, mean, invstd, weight,
                                                           bias)
    check_gradients(loss, [x, weight, bias], analytic)


@pytest.mark.parametrize("shape", [(3, 2, 4), (5, 3, 1)])
def test_reference_eval_backward_matches_finite_differences(shape):
    x, weight, bias, direction, running_mean, running_var = make_inputs(shape, np.float64, seed=4)

    def loss():  # running statistics: constants
        return np.sum(bn.batch_norm_forward_eval_reference(
            x, running_mean, running_var, weight, bias, EPS) * direction)

    invstd = 1 / np.sqrt(running_var + EPS)
    analytic = bn.batch_norm_backward_eval_reference(direction, x, running_mean, invstd, weight)
    check_gradients(loss, [x, weight, bias], analytic)


# --- PyTorch, when installed -----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8, 4, 5), (60, 100, 1)])
def test_numba_matches_pytorch(shape):
    torch = pytest.importorskip("torch")
    x, weight, bias, grad_out, running_mean, running_var = make_inputs(shape, np.float64)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, tb, training=True, eps=EPS)
    ty.backward(torch.tensor(grad_out))
    batch_var, batch_mean = torch.var_mean(torch.tensor(x), dim=(0, 2), unbiased=False)

    y, mean, invstd, var = bn.batch_norm_forward_train_numba(x, weight, bias, EPS)
    grads = bn.batch_norm_backward_train_numba(grad_out, x, mean, invstd, weight)
    for got, want in [(y, ty), (mean, batch_mean), (var, batch_var), (grads[0], tx.grad),
                      (grads[1], tw.grad), (grads[2], tb.grad)]:
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-12)

    ty = torch.nn.functional.batch_norm(
        torch.tensor(x), torch.tensor(running_mean), torch.tensor(running_var),
        torch.tensor(weight), torch.tensor(bias), training=False, eps=EPS)
    y = bn.batch_norm_forward_eval_numba(x, running_mean, running_var, weight, bias, EPS)
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-10, atol=1e-12)

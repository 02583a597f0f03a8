"""Every array that reaches a layer kernel from user-reachable state is checked first (issue 11,
the layer side of item 1): parameters whose `.data` the user replaced (wrong shape, dtype,
non-contiguous, read-only, not an array), BatchNorm's running statistics and batch counter
(replaced by hand or as a new buffer; updated in place in training, so they must be writeable
and C-contiguous), and non-contiguous inputs.

Before the fix a Linear bias of 1 element, or a BatchNorm weight, bias or running statistic of
1 element, made the kernels read past the array's end (heap garbage in the output, e.g.
6e-44), and a float64 running_mean in a float32 BatchNorm was silently kept and mixed in.

The cases run in a subprocess (`python -m tests.test_layer_state_safety CASE...`), once per
kernel set, so a regression that crashes the process fails these tests instead of killing
pytest; a case missing from the subprocess's report is one it did not survive.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl import nn
from minidl.tensor import Tensor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OK = ("ok", "")


def _x(*shape):
    return minidl.tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32))


def _replace(layer, name, array, mode="train"):
    getattr(layer, name).data = array
    layer.train(mode == "train")
    return layer


def _same_as_contiguous(layer, name, make_view, x):
    """The layer's output with `name` replaced by a strided view of the same values equals
    the output with the original (contiguous) array."""
    expected = layer(x).data.copy()
    original = getattr(layer, name).data
    getattr(layer, name).data = make_view(original)
    np.testing.assert_array_equal(layer(x).data, expected)


def _transposed_copy(array):
    return np.ascontiguousarray(array.T).T  # same values, Fortran order


def _strided_copy(array):
    doubled = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
    doubled[..., ::2] = array
    return doubled[..., ::2]


def _read_only_copy(array):
    copy = array.copy()
    copy.flags.writeable = False
    return copy


def _reshaped_in_place(array):
    array.shape = array.shape[::-1]  # the same array object, another shape
    return array


def _bn_read_only_running_mean_train():
    bn = _replace(nn.BatchNorm1d(5), "running_mean", _read_only_copy(np.zeros(5, np.float32)))
    try:
        bn(_x(8, 5))
    finally:  # refused before anything changed
        assert int(bn.num_batches_tracked.data) == 0


def _bn_eval_with_read_only_statistics():
    bn = nn.BatchNorm1d(5).eval()
    expected = bn(_x(8, 5)).data.copy()
    bn.running_mean.data = _read_only_copy(bn.running_mean.data)
    bn.running_var.data = _read_only_copy(bn.running_var.data)
    np.testing.assert_array_equal(bn(_x(8, 5)).data, expected)


def _bn_without_batch_counter():
    bn = nn.BatchNorm1d(5)
    bn.num_batches_tracked = None  # PyTorch: not counted, the running mean still updated
    bn(_x(8, 5))
    assert np.abs(bn.running_mean.data).sum() > 0


def _bn_load_state_dict_from_strided_arrays():
    bn = nn.BatchNorm2d(3)
    state = {key: (_strided_copy(value.data) if value.ndim else value.data.copy())
             for key, value in nn.BatchNorm2d(3).state_dict().items()}
    bn.load_state_dict(state)  # copied into the layer's own arrays, which stay contiguous
    bn(_x(4, 3, 2, 2))
    assert bn.running_mean.data.flags.c_contiguous and int(bn.num_batches_tracked.data) == 1


def _bn_running_var_without_mean():
    bn = nn.BatchNorm1d(5).eval()
    bn.running_mean = None
    bn(_x(8, 5))


def _functional_bn(training, make_array):
    running_mean = Tensor._wrap(make_array(np.zeros(5, np.float32)))
    running_var = minidl.tensor(np.ones(5, np.float32))
    F.batch_norm(_x(8, 5), running_mean, running_var, training=training)


def _conv_replaced_weight():
    conv = nn.Conv2d(3, 4, 3)
    conv.weight.data = np.zeros((4, 3, 7, 7), np.float32)
    conv(_x(2, 3, 8, 8))


def _conv_strided_weight():
    conv = nn.Conv2d(3, 4, 3)
    x = _x(2, 3, 8, 8)
    _same_as_contiguous(conv, "weight", _transposed_copy, x)


def _non_contiguous_inputs():
    """Every layer function on a transposed view of its input equals it on a copy."""
    view = np.random.default_rng(2).standard_normal((6, 8, 5, 5)).astype(np.float32)
    view = view.transpose(0, 1, 3, 2)
    functions = [F.relu, F.sigmoid, F.tanh, F.elu, lambda t: F.leaky_relu(t, 0.1),
                 lambda t: F.max_pool2d(t, 2), lambda t: F.avg_pool2d(t, 2),
                 lambda t: F.adaptive_avg_pool2d(t, 2), lambda t: F.softmax(t, 1),
                 lambda t: F.log_softmax(t, 3), nn.BatchNorm2d(8), nn.BatchNorm2d(8).eval(),
                 nn.Conv2d(8, 2, 3), lambda t: F.linear(t, minidl.tensor(np.ones((3, 5),
                                                                                np.float32)))]
    for function in functions:
        on_view = function(Tensor._wrap(view)).data
        on_copy = function(Tensor._wrap(np.ascontiguousarray(view))).data
        np.testing.assert_allclose(on_view, on_copy, rtol=1e-6, atol=1e-6)
    logits = view.reshape(-1, 25)[:, ::2]  # rows of a strided view
    target = np.zeros(len(logits), np.int64)
    np.testing.assert_allclose(F.cross_entropy(Tensor._wrap(logits), target).item(),
                               F.cross_entropy(minidl.tensor(logits), target).item(), rtol=1e-6)


LINEAR_X = (8, 5)
CASES = {
    # Linear(5, 3): weight (3, 5), bias (3,)
    "linear_bias_too_short": (
        lambda: _replace(nn.Linear(5, 3), "bias", np.zeros(1, np.float32))(_x(*LINEAR_X)),
        "ValueError", r"Linear\(5, 3\): expected bias of shape \(3,\), got \(1,\)"),
    "linear_bias_too_long": (
        lambda: _replace(nn.Linear(5, 3), "bias", np.zeros(300000, np.float32))(_x(*LINEAR_X)),
        "ValueError", r"expected bias of shape \(3,\), got \(300000,\)"),
    "linear_weight_wrong_shape": (
        lambda: _replace(nn.Linear(5, 3), "weight", np.zeros((3, 4), np.float32))(
            _x(*LINEAR_X)),
        "ValueError", r"Linear\(5, 3\): expected weight of shape \(3, 5\), got \(3, 4\)"),
    "linear_weight_reshaped_in_place": (
        lambda: (lambda layer: (_reshaped_in_place(layer.weight.data), layer(_x(*LINEAR_X))))(
            nn.Linear(5, 3)),
        "ValueError", r"expected weight of shape \(3, 5\), got \(5, 3\)"),
    "linear_weight_float64": (
        lambda: _replace(nn.Linear(5, 3), "weight", np.zeros((3, 5)))(_x(*LINEAR_X)),
        "TypeError", r"expected bias of dtype float64 \(the dtype of weight\), got float32"),
    "linear_bias_float64": (
        lambda: _replace(nn.Linear(5, 3), "bias", np.zeros(3))(_x(*LINEAR_X)),
        "TypeError", r"expected bias of dtype float32 \(the dtype of weight\), got float64"),
    "linear_weight_float16": (
        lambda: _replace(nn.Linear(5, 3, bias=False), "weight",
                         np.zeros((3, 5), np.float16))(_x(*LINEAR_X)),
        "TypeError", r"expected weight of dtype float32 or float64, got float16"),
    "linear_weight_not_an_array": (
        lambda: _replace(nn.Linear(5, 3), "weight", [[0.0] * 5] * 3)(_x(*LINEAR_X)),
        "TypeError", r"expected weight.data to be a NumPy array, got list"),
    "linear_strided_and_read_only_parameters": (
        lambda: [_same_as_contiguous(nn.Linear(5, 3), name, make_view, _x(*LINEAR_X))
                 for name in ("weight", "bias")
                 for make_view in (_transposed_copy, _strided_copy, _read_only_copy)],
        *OK),
    # BatchNorm1d(5) / BatchNorm2d(3): every array of the state (5,) / (3,)
    **{f"batchnorm_{name}_too_short_{mode}": (
        lambda name=name, mode=mode: _replace(nn.BatchNorm1d(5), name, np.zeros(1, np.float32),
                                              mode)(_x(8, 5)),
        "ValueError", rf"BatchNorm1d\(5\): expected {name} of shape \(5,\), got \(1,\)")
       for name in ("weight", "bias", "running_mean", "running_var") for mode in ("train", "eval")},
    "batchnorm2d_weight_too_short": (
        lambda: _replace(nn.BatchNorm2d(3), "weight", np.zeros(1, np.float32))(_x(4, 3, 6, 6)),
        "ValueError", r"BatchNorm2d\(3\): expected weight of shape \(3,\), got \(1,\)"),
    "batchnorm_running_mean_replaced_buffer": (
        lambda: (lambda bn: (setattr(bn, "running_mean", minidl.tensor(np.zeros(2, np.float32))),
                             bn.eval()(_x(8, 5))))(nn.BatchNorm1d(5)),
        "ValueError", r"expected running_mean of shape \(5,\), got \(2,\)"),
    **{f"batchnorm_running_mean_float64_{mode}": (
        lambda mode=mode: _replace(nn.BatchNorm1d(5), "running_mean", np.zeros(5), mode)(
            _x(8, 5)),
        "TypeError", r"expected running_mean of dtype float32 \(the dtype of weight\), got "
                     r"float64") for mode in ("train", "eval")},
    "batchnorm_affine_false_running_var_float64": (
        lambda: _replace(nn.BatchNorm1d(5, affine=False), "running_var", np.ones(5))(_x(8, 5)),
        "TypeError", r"expected running_var of dtype float32 \(the dtype of running_mean\)"),
    "batchnorm_read_only_running_mean_train": (
        _bn_read_only_running_mean_train,
        "ValueError", r"running_mean is updated in place, so its array must be writeable and "
                      r"C-contiguous, got one that is read-only"),
    "batchnorm_strided_running_var_train": (
        lambda: _replace(nn.BatchNorm1d(5), "running_var", _strided_copy(np.ones(5, np.float32)))(
            _x(8, 5)),
        "ValueError", r"running_var is updated in place.*not C-contiguous"),
    "batchnorm_eval_read_only_statistics": (_bn_eval_with_read_only_statistics, *OK),
    "batchnorm_running_var_without_running_mean": (
        _bn_running_var_without_mean,
        "ValueError", r"running_mean and running_var must both be Tensors or both be None"),
    **{f"batchnorm_batch_counter_{what}": (
        lambda array=array: _replace(nn.BatchNorm1d(5, momentum=None), "num_batches_tracked",
                                     array)(_x(8, 5)),
        "ValueError", rf"expected num_batches_tracked to hold a writeable int64 scalar .*{got}")
       for what, array, got in (
           ("float", np.zeros(()), "dtype float64"),
           ("vector", np.zeros(3, np.int64), r"shape \(3,\)"),
           ("read_only", _read_only_copy(np.zeros((), np.int64)), "a read-only array"),
           ("list", [0], "list"))},
    "batchnorm_without_batch_counter": (_bn_without_batch_counter, *OK),
    "batchnorm_load_state_dict_from_strided_arrays": (
        _bn_load_state_dict_from_strided_arrays, *OK),
    "batch_norm_functional_read_only_running_mean_train": (
        lambda: _functional_bn(True, _read_only_copy),
        "ValueError", r"batch_norm: running_mean is updated in place.*read-only"),
    "batch_norm_functional_read_only_running_mean_eval": (
        lambda: _functional_bn(False, _read_only_copy), *OK),
    "batch_norm_functional_running_mean_float64": (
        lambda: _functional_bn(False, lambda a: a.astype(np.float64)),
        "TypeError", r"expected running_mean of dtype float32 \(the dtype of the input\)"),
    # Conv2d(3, 4, 3): weight (4, 3, 3, 3)
    "conv_weight_replaced_by_another_shape": (
        _conv_replaced_weight,
        "ValueError", r"Conv2d\(3, 4\): expected weight of shape \(4, 3, 3, 3\), got "
                      r"\(4, 3, 7, 7\)"),
    "conv_bias_too_short": (
        lambda: _replace(nn.Conv2d(3, 4, 3), "bias", np.zeros(1, np.float32))(_x(2, 3, 8, 8)),
        "ValueError", r"Conv2d\(3, 4\): expected bias of shape \(4,\), got \(1,\)"),
    "conv_strided_weight": (_conv_strided_weight, *OK),
    "non_contiguous_inputs": (_non_contiguous_inputs, *OK),
}


def run_cases(names) -> None:
    """Run each case and print one JSON line {"case", "error", "message"} (error "ok")."""
    for name in names:
        function = CASES[name][0]
        try:
            function()
            error, message = "ok", ""
        except Exception as exception:  # reported, and compared by the test
            error, message = type(exception).__name__, str(exception)
        print(json.dumps({"case": name, "error": error, "message": message}), flush=True)


@pytest.fixture(scope="module", params=["numba", "numpy"])
def reports(request):
    environment = dict(os.environ, MINIDL_KERNELS=request.param)
    done = subprocess.run([sys.executable, "-m", "tests.test_layer_state_safety", *CASES],
                          cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["case"]: line for line in lines}, done


@pytest.mark.parametrize("case", CASES)
def test_layer_state_is_checked_before_any_kernel(reports, case):
    results, done = reports
    assert case in results, (f"the subprocess did not survive to report {case!r} (exit code "
                             f"{done.returncode}):\n{done.stderr[-3000:]}")
    _, expected_error, expected_message = CASES[case]
    result = results[case]
    assert result["error"] == expected_error, result
    assert __import__("re").search(expected_message, result["message"]), result


def test_subprocess_exits_cleanly(reports):
    _, done = reports
    assert done.returncode == 0, done.stderr[-3000:]


if __name__ == "__main__":
    run_cases(sys.argv[1:] or list(CASES))


@pytest.mark.parametrize("layer, shape", [
    (nn.Linear(3, 2), (4, 3)), (nn.ReLU(), (4, 3)), (nn.Sigmoid(), (4, 3)),
    (nn.Flatten(), (4, 3)), (nn.BatchNorm1d(3), (4, 3)), (nn.BatchNorm2d(1), (2, 1, 4, 4)),
    (nn.Conv2d(1, 1, 3), (2, 1, 4, 4)), (nn.MaxPool2d(2), (2, 1, 4, 4)),
    (nn.AdaptiveAvgPool2d(1), (2, 1, 4, 4)),
])
def test_an_input_whose_data_is_not_an_array_is_a_type_error(layer, shape):
    """`.data` replaced by a list: a TypeError naming it, not an AttributeError from inside."""
    x = minidl.tensor(np.ones(shape, np.float32))
    x.data = x.data.tolist()
    with pytest.raises(TypeError, match=r"expected input\.data to be a NumPy array, got list"):
        layer(x)

"""Where BatchNorm2d's training forward+backward spends its time, pass by pass, each beside a
pure memory operation that moves the same bytes.

    python -m benchmarks.profile_batchnorm                    # the two shapes of the targets
    python -m benchmarks.profile_batchnorm 64,64,32,32 --rounds 100

kernels/batchnorm.py's rows kernels (L = H*W > 1) make four passes over memory:

    forward   statistics       reads x                    ~ a parallel sum of x
              output           reads x, writes y          ~ a parallel copy of x
    backward  gradient sums    reads grad, x              ~ a parallel sum of grad + x
              grad_input       reads grad, x, writes dx   ~ a parallel grad + x into a new array

Each pass runs here on its own: the drivers' loops, one pass each, built from the kernel
module's own row functions. The passes, their memory equivalents and the whole op of minidl
and of PyTorch (when installed) are interleaved round by round, so that a change of load on a
shared machine hits all of them alike; the medians are reported. The memory operations are
timed one by one, so their sum is what four such passes cost when nothing is reused from the
cache between them; within the whole op the output pass may find part of x still cached from
the statistics pass. The whole ops are also timed "cold", right after reading a buffer twice
the size of the last-level cache, so that nothing of their inputs is left there (in a network,
other layers run in between), in the same rounds. Outputs are allocated on every call, as the
kernels do, under the benchmarks' allocator setting.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from . import _env

_env.configure_allocator()

import numpy as np  # noqa: E402  (after the allocator setting)
from numba import prange  # noqa: E402

from minidl.kernels import batchnorm as bn  # noqa: E402
from minidl.kernels._config import jit_parallel  # noqa: E402

EPS = 1e-5


def _flush_bytes() -> int:
    """Twice the last-level cache (32 MiB assumed where the OS does not say)."""
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
    except (ValueError, OSError):
        size = 0
    return 2 * (size if size > 0 else 32 << 20)


# --- The passes of kernels/batchnorm.py's rows drivers, one each. --------------------------

@jit_parallel
def _statistics_pass(x, pivot, partial_total, partial_total_sq):
    samples, channels, _ = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        partial_total[n, c], partial_total_sq[n, c] = bn._row_shifted_sums(x[n, c], pivot[c])


@jit_parallel
def _output_pass(x, mean, invstd, weight, bias, y):
    samples, channels, _ = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        bn._row_bn_output(x[n, c], mean[c], invstd[c], weight[c], bias[c], False, y[n, c])


@jit_parallel
def _gradient_sums_pass(grad, x, mean, invstd, weight, bias, partial_grad, partial_grad_x):
    samples, channels, _ = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        partial_grad[n, c], partial_grad_x[n, c] = bn._row_gradient_sums(
            grad[n, c], x[n, c], mean[c], invstd[c], weight[c], bias[c], False)


@jit_parallel
def _grad_input_pass(grad, x, mean, invstd, weight, bias, projection_scale, grad_mean,
                     grad_scale, grad_input):
    samples, channels, _ = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        bn._row_grad_input(grad[n, c], x[n, c], mean[c], invstd[c], weight[c], bias[c], False,
                           True, projection_scale[c], grad_mean[c], grad_scale[c],
                           grad_input[n, c])


# --- Their memory equivalents, over the same rows. --------------------------------------------

@jit_parallel
def _read_one(x, out):
    samples, channels, length = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        total = np.float32(0)
        for i in range(length):
            total += x[n, c, i]
        out[n, c] = total


@jit_parallel
def _read_two(a, b, out):
    samples, channels, length = a.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        total = np.float32(0)
        for i in range(length):
            total += a[n, c, i] + b[n, c, i]
        out[n, c] = total


@jit_parallel
def _read_one_write_one(x, y):
    samples, channels, length = x.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        for i in range(length):
            y[n, c, i] = x[n, c, i]


@jit_parallel
def _read_two_write_one(a, b, y):
    samples, channels, length = a.shape
    for row in prange(samples * channels):
        n, c = row // channels, row % channels
        for i in range(length):
            y[n, c, i] = a[n, c, i] + b[n, c, i]


def _calls(shape, torch):
    """The timed functions (no arguments): ([(pass, its memory equivalent)], whole ops), each
    a (name, function) pair."""
    rng = np.random.default_rng(0)
    samples, channels = shape[:2]
    x = (rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5).reshape(samples, channels, -1)
    grad = rng.standard_normal(x.shape, dtype=np.float32)
    weight = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, channels).astype(np.float32)
    _, mean, invstd, _ = bn.batch_norm_forward_train_numba(x, weight, bias, EPS)
    pivot = bn._finite_pivots(x[0, :, 0])  # as the forward kernel chooses them
    partials = [np.empty((samples, channels)) for _ in range(2)]
    sums = np.empty((samples, channels), np.float32)
    _gradient_sums_pass(grad, x, mean, invstd, weight, bias, *partials)
    grad_coefficients = bn._finish_gradients(*partials, samples * x.shape[2], invstd, weight,
                                             np.empty_like(weight), np.empty_like(weight))

    def forward_backward():
        y, mean, invstd, _ = bn.batch_norm_forward_train_numba(x, weight, bias, EPS)
        return y, bn.batch_norm_backward_train_numba(grad, x, mean, invstd, weight)

    passes = [
        (("forward statistics", lambda: _statistics_pass(x, pivot, *partials)),
         ("~ sum of x", lambda: _read_one(x, sums))),
        (("forward output", lambda: _output_pass(x, mean, invstd, weight, bias,
                                                 np.empty_like(x))),
         ("~ copy of x", lambda: _read_one_write_one(x, np.empty_like(x)))),
        (("backward gradient sums", lambda: _gradient_sums_pass(grad, x, mean, invstd, weight,
                                                                bias, *partials)),
         ("~ sum of grad + x", lambda: _read_two(grad, x, sums))),
        (("backward grad_input", lambda: _grad_input_pass(grad, x, mean, invstd, weight, bias,
                                                          *grad_coefficients,
                                                          np.empty_like(x))),
         ("~ grad + x into a new array", lambda: _read_two_write_one(grad, x,
                                                                     np.empty_like(x)))),
    ]
    whole = [("minidl forward+backward", forward_backward)]
    if torch is not None:
        whole.append(("torch forward+backward",
                      _torch_forward_backward(torch, x.reshape(shape), grad.reshape(shape),
                                              weight, bias)))
    return passes, whole


def _torch_forward_backward(torch, x, grad, weight, bias):
    tx, tgrad = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grad)
    tweight = torch.from_numpy(weight).requires_grad_()
    tbias = torch.from_numpy(bias).requires_grad_()
    running_mean, running_var = torch.zeros(x.shape[1]), torch.ones(x.shape[1])

    def call():
        out = torch.nn.functional.batch_norm(tx, running_mean, running_var, tweight, tbias,
                                             training=True, eps=EPS)
        out.backward(tgrad)
        for tensor in (tx, tweight, tbias):
            tensor.grad = None
    return call


def profile(shape, rounds: int, torch) -> str:
    passes, whole = _calls(shape, torch)
    calls = [call for pair in passes for call in pair] + whole
    flush_buffer = np.ones(_flush_bytes() // 4, np.float32)
    times = {name: [] for name, _ in calls}
    times.update({f"{name}, cold": [] for name, _ in whole})
    for _ in range(3):  # compile or load the kernels, fault the pages in
        for _, call in calls:
            call()
    for _ in range(rounds):
        for name, call in calls:
            times[name].append(_seconds(call))
        for name, call in whole:
            flush_buffer.sum()  # a read: no dirty lines left for the timed call to write back
            times[f"{name}, cold"].append(_seconds(call))
    median = {name: statistics.median(values) for name, values in times.items()}

    lines = [f"BatchNorm2d {shape}, float32, {_env.bench_threads()} threads, median of {rounds} "
             f"interleaved rounds"]
    for (name, _), (equivalent, _) in passes:
        lines.append(f"  {name:36s} {median[name] * 1e3:7.2f} ms")
        lines.append(f"    {equivalent:34s} {median[equivalent] * 1e3:7.2f} ms   "
                     f"pass / this: {median[name] / median[equivalent]:.2f}")
    for name, _ in whole:
        lines.append(f"  {name:36s} {median[name] * 1e3:7.2f} ms   cold (caches flushed): "
                     f"{median[f'{name}, cold'] * 1e3:7.2f} ms")
    memory = sum(median[equivalent] for _, (equivalent, _) in passes)
    minidl = median["minidl forward+backward"]
    lines.append(f"  the four passes: {sum(median[name] for (name, _), _ in passes) * 1e3:.2f} ms;"
                 f" their memory operations: {memory * 1e3:.2f} ms; minidl's op / memory "
                 f"operations: {minidl / memory:.2f}")
    if "torch forward+backward" in median:
        torch_time = median["torch forward+backward"]
        cold = median["minidl forward+backward, cold"] / median["torch forward+backward, cold"]
        lines.append(f"  minidl / torch: {minidl / torch_time:.2f} (cold: {cold:.2f}); the memory "
                     f"operations / torch: {memory / torch_time:.2f}")
    return "\n".join(lines)


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _shape(text: str) -> tuple:
    values = tuple(int(part) for part in text.split(","))
    if len(values) != 4 or min(values) < 1 or values[2] * values[3] < 2:
        raise argparse.ArgumentTypeError(f"expected N,C,H,W with H*W > 1, got {text!r}")
    return values


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", type=_shape,
                        default=[(64, 64, 32, 32), (128, 256, 14, 14)])
    parser.add_argument("--rounds", type=_positive, default=50)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    _env.set_threads(_env.bench_threads())
    torch = None
    if not args.no_torch:
        from ._harness import optional_torch
        torch = optional_torch()
    for shape in args.shapes:
        print(profile(shape, args.rounds, torch), flush=True)


if __name__ == "__main__":
    main()

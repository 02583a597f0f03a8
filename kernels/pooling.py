"""2-d pooling kernels (max, average, adaptive average) on NCHW arrays, with PyTorch's semantics.

Shapes: x, grad_input (N, C, H, W); y, grad_out, indices (N, C, Ho, Wo). kernel_size, stride
and padding are (int, int) pairs (height, width), validated by the caller: padding <= kernel/2
and Ho, Wo >= 1. Floor mode (ceil_mode=False), dilation 1:

    Ho = (H + 2*ph - kh) // sh + 1,      Wo = (W + 2*pw - kw) // sw + 1

Output (oh, ow) pools the window of rows oh*sh - ph ... oh*sh - ph + kh - 1 and columns
ow*sw - pw ... ow*sw - pw + kw - 1 of the input; the part of it in the padding is
    max pool: -inf (never chosen: padding <= kernel/2 leaves every window a real element);
    avg pool: 0, and the divisor is kh*kw (count_include_pad=True; in general the window
              clipped to the padded input, which floor mode makes kh*kw) or the number of real
              elements in the window (count_include_pad=False).
Adaptive average pooling splits H into Ho bins, bin i being the rows
    floor(i*H/Ho) <= h < ceil((i+1)*H/Ho)     (bins overlap when Ho does not divide H)
and likewise W into Wo; y = sum over the bin / kh / kw, with kh, kw the bin's height and width.

Max pooling follows PyTorch's CPU kernel exactly: the window is scanned in row-major order and
the running maximum is replaced only if `value > max or isnan(value)`. So among equal maxima
the FIRST one wins, a NaN in the window makes the output NaN, and with several NaNs the LAST
NaN is the one recorded. `indices` hold the flat position h*W + w of the chosen element in its
(H, W) plane (int64), which is what PyTorch's max_pool2d(..., return_indices=True) returns and
what the backward pass scatters to:  grad_input.flat[plane, indices] += grad_out  (windows that
overlap add up).

Rounding: a window or bin sum must not lose digits as it grows. A float32 running sum does:
the mean of a 4096x4096 plane of 1 + 0.01*u came out 9e-4 too small (relative), and once a
partial sum reaches 2^24, adding 1 leaves it unchanged. So the sums are blocked: runs of at
most _BLOCK values are summed in the array dtype (a loop that LLVM vectorises) and the block
sums are added in float64. A window (or a whole plane, for adaptive pooling) of at most
_BLOCK values is a single block, summed by the plain loop of a function of its own (the block
loops cost 5-15% on such small sums). The relative error is then that of one block whatever
the size of the window: at most _BLOCK times float32's rounding unit, approached only by
constant inputs, and about 1e-8 for noisy data, as accurate as PyTorch's global average
pooling (a `mean`, with a cascade sum). One float64 accumulator for every value was as
accurate and 1.2-1.3x slower on cached planes. The NumPy references sum in float64. (The
float64 accumulators start as np.float64(0), not 0.0: run as Python, with
NUMBA_DISABLE_JIT=1, 0.0 plus a NumPy float32 is a float32.) A sum is rounded once to the
array dtype and then divided in that dtype (adaptive: by kh, then by kw, as PyTorch does,
which is not always the same float32 number as one division by kh*kw). The
Numba kernels run under the project's fastmath subset ('reassoc', 'arcp', ...), which lets
LLVM vectorise the block sums and reorder them, so averages agree with PyTorch and with the
NumPy references to rounding (an ulp or two), not always to the bit. Max pooling does no
arithmetic and agrees exactly. The backward passes only spread shares: an input element
receives one share per window that contains it (at most ceil(kh/sh) * ceil(kw/sw)), a count
set by the window, not by the size of the input.

Layout of the Numba kernels: the C-contiguous input is a stack of N*C independent (H, W)
planes. A serial `@jit` helper pools one plane (`_max_pool_plane`, ...); each driver loops over
the planes with `prange`, and is jitted twice (serial below PARALLEL_MIN_ELEMENTS elements,
parallel above). Every plane of the output belongs to one iteration, so the backward scatters
(+= into grad_input) never race. Inside a plane, the window loops run over row slices
`x[h, first:stop]` indexed from 0: indexing with `x[h, w]` for a w that Numba cannot prove
non-negative adds a negative-index check to every access, which blocks vectorisation (the
window sums were 10-30% slower, global average pooling 10x slower). Max pooling is a
sequential scan per window, like PyTorch's: LLVM makes it branch-free, but each comparison
waits for the previous one, so it runs at a few ns per window element.
"""
from __future__ import annotations


import numpy as np
from numba import prange

from ._config import PARALLEL_MIN_ELEMENTS, jit, jit_parallel

# ----------------------------------------------------------------------------------------------
# NumPy references: the math as written, the test oracle and the "naive NumPy" baseline.
# Sliding windows are handled by looping over the kh*kw offsets (i, j) inside the window: for
# a fixed offset, the elements that offset picks from every window form one strided slice of
# the padded input, padded[:, :, i::sh, j::sw] cut to (Ho, Wo).
# ----------------------------------------------------------------------------------------------


def _output_size(size, kernel, stride, padding):
    """Floor-mode output length: (size + 2*padding - kernel) // stride + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def _pad(x, padding, value):
    """x (N, C, H, W) -> (N, C, H + 2*ph, W + 2*pw), the border filled with `value`."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _offset_view(padded, i, j, stride, output_shape):
    """The element at offset (i, j) of every window: a (N, C, Ho, Wo) strided view of padded."""
    (sh, sw), (ho, wo) = stride, output_shape
    return padded[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def max_pool2d_forward_reference(x: np.ndarray, kernel_size: tuple[int, int],
                                 stride: tuple[int, int], padding: tuple[int, int]
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """y[n, c, oh, ow] = max of the window; indices = h*W + w of the chosen element.

    x: (N, C, H, W) -> y (N, C, Ho, Wo) of x's dtype, indices (N, C, Ho, Wo) int64.
    The offsets are visited in row-major window order and a value replaces the running maximum
    only if it is larger or NaN (PyTorch's rule: first maximum wins, NaN propagates).
    """
    _, _, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    output_shape = (_output_size(height, kh, sh, ph), _output_size(width, kw, sw, pw))
    top = np.arange(output_shape[0])[:, None] * sh - ph  # (Ho, 1): first row of each window
    left = np.arange(output_shape[1])[None, :] * sw - pw  # (1, Wo): first column
    padded = _pad(x, padding, -np.inf)
    y = np.full(x.shape[:2] + output_shape, -np.inf, dtype=x.dtype)
    # PyTorch starts from the window's first real element (a window of -inf records it)
    indices = np.broadcast_to(np.maximum(top, 0) * width + np.maximum(left, 0), y.shape)
    for i in range(kh):
        for j in range(kw):
            candidate = _offset_view(padded, i, j, stride, output_shape)
            take = (candidate > y) | np.isnan(candidate)
            y = np.where(take, candidate, y)
            indices = np.where(take, (top + i) * width + (left + j), indices)
    return y, indices.astype(np.int64)


def max_pool2d_backward_reference(grad_out: np.ndarray, indices: np.ndarray,
                                  input_shape: tuple[int, int, int, int]) -> np.ndarray:
    """grad_input[n, c].flat[indices[n, c, oh, ow]] += grad_out[n, c, oh, ow].

    grad_out, indices: (N, C, Ho, Wo); returns grad_input of shape input_shape (N, C, H, W).
    np.add.at accumulates repeated indices (an element that is the maximum of several
    overlapping windows receives the sum of their gradients).
    """
    samples, channels, height, width = input_shape
    planes = samples * channels
    grad_input = np.zeros((planes, height * width), dtype=grad_out.dtype)
    np.add.at(grad_input, (np.arange(planes)[:, None], indices.reshape(planes, -1)),
              grad_out.reshape(planes, -1))
    return grad_input.reshape(input_shape)


def _avg_pool_divisors(size, kernel, stride, padding, output_size, count_include_pad):
    """Per output position along one axis, how many window elements the average divides by.

    PyTorch: the window [start, start + kernel) clipped to the padded input [-padding,
    size + padding) (count_include_pad=True), or to the input [0, size) (False).
    """
    start = np.arange(output_size) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_pool_divisor(input_shape, kernel_size, stride, padding, output_shape,
                      count_include_pad, dtype):
    """The (Ho, Wo) divisors of avg pooling, in the array dtype."""
    rows, cols = (_avg_pool_divisors(input_shape[axis + 2], kernel_size[axis], stride[axis],
                                     padding[axis], output_shape[axis], count_include_pad)
                  for axis in (0, 1))
    return (rows[:, None] * cols[None, :]).astype(dtype)


def avg_pool2d_forward_reference(x: np.ndarray, kernel_size: tuple[int, int],
                                 stride: tuple[int, int], padding: tuple[int, int],
                                 count_include_pad: bool) -> np.ndarray:
    """y[n, c, oh, ow] = (sum of the zero-padded window) / divisor. x: (N, C, H, W) -> y
    (N, C, Ho, Wo). divisor: kh*kw (count_include_pad) or the number of real elements."""
    _, _, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    output_shape = (_output_size(height, kh, sh, ph), _output_size(width, kw, sw, pw))
    padded = _pad(x, padding, 0)
    total = np.zeros(x.shape[:2] + output_shape, dtype=np.float64)  # see "Rounding" above
    for i in range(kh):
        for j in range(kw):
            total += _offset_view(padded, i, j, stride, output_shape)
    return total.astype(x.dtype) / _avg_pool_divisor(x.shape, kernel_size, stride, padding,
                                                     output_shape, count_include_pad, x.dtype)


def avg_pool2d_backward_reference(grad_out: np.ndarray, input_shape: tuple[int, int, int, int],
                                  kernel_size: tuple[int, int], stride: tuple[int, int],
                                  padding: tuple[int, int], count_include_pad: bool
                                  ) -> np.ndarray:
    """grad_input[n, c, h, w] = sum over the windows containing (h, w) of grad_out / divisor.

    grad_out: (N, C, Ho, Wo); returns grad_input (N, C, H, W) = input_shape. Each window's
    share is spread over a zero-padded gradient, whose border (the padding) is then dropped.
    """
    _, _, height, width = input_shape
    (kh, kw), (ph, pw) = kernel_size, padding
    output_shape = grad_out.shape[2:]
    share = grad_out / _avg_pool_divisor(input_shape, kernel_size, stride, padding,
                                         output_shape, count_include_pad, grad_out.dtype)
    grad_padded = np.zeros(input_shape[:2] + (height + 2 * ph, width + 2 * pw),
                           dtype=grad_out.dtype)
    for i in range(kh):
        for j in range(kw):
            window_element = _offset_view(grad_padded, i, j, stride, output_shape)
            window_element += share  # one offset never hits an element twice: no lost updates
    return np.ascontiguousarray(grad_padded[:, :, ph:ph + height, pw:pw + width])


def _adaptive_bins(size, output_size):
    """PyTorch's adaptive bins along one axis: [(floor(i*size/out), ceil((i+1)*size/out))]."""
    return [(i * size // output_size, -(-(i + 1) * size // output_size))
            for i in range(output_size)]


def adaptive_avg_pool2d_forward_reference(x: np.ndarray, output_size: tuple[int, int]
                                          ) -> np.ndarray:
    """y[n, c, oh, ow] = mean of x[n, c] over bin (oh, ow). x: (N, C, H, W) -> (N, C, Ho, Wo).

    One vectorised sum over the batch and channels per bin (there are Ho*Wo of them, typically
    few: 1x1 for global average pooling).
    """
    _, _, height, width = x.shape
    y = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for oh, (h0, h1) in enumerate(_adaptive_bins(height, output_size[0])):
        for ow, (w0, w1) in enumerate(_adaptive_bins(width, output_size[1])):
            # summed in float64: NumPy adds the rows of a bin one after the other (pairwise
            # only within a row), which in float32 drifts with the bin's height
            total = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3), dtype=np.float64).astype(x.dtype)
            # divided by the height, then the width, as PyTorch does (same float32 rounding)
            y[:, :, oh, ow] = total / (h1 - h0) / (w1 - w0)
    return y


def adaptive_avg_pool2d_backward_reference(grad_out: np.ndarray,
                                           input_shape: tuple[int, int, int, int]
                                           ) -> np.ndarray:
    """grad_input[n, c, h, w] = sum over the bins containing (h, w) of grad_out / (kh*kw).

    grad_out: (N, C, Ho, Wo); returns grad_input (N, C, H, W) = input_shape.
    """
    _, _, height, width = input_shape
    output_height, output_width = grad_out.shape[2:]
    grad_input = np.zeros(input_shape, dtype=grad_out.dtype)
    for oh, (h0, h1) in enumerate(_adaptive_bins(height, output_height)):
        for ow, (w0, w1) in enumerate(_adaptive_bins(width, output_width)):
            share = grad_out[:, :, oh, ow] / (h1 - h0) / (w1 - w0)  # (N, C)
            grad_input[:, :, h0:h1, w0:w1] += share[:, :, None, None]
    return grad_input


# ----------------------------------------------------------------------------------------------
# Numba kernels
# ----------------------------------------------------------------------------------------------


def _serial_and_parallel(driver):
    """Jit `driver` twice: serial (prange runs as range) and parallel (Numba's thread pool).
    jit_parallel compiles it under its own cache name (see kernels/_config.py)."""
    return jit(driver), jit_parallel(driver)


# --- One (H, W) plane at a time: the loop bodies shared by the serial and parallel drivers. ---

@jit
def _window(index, kernel, stride, padding, size):
    """Window of output `index` along one axis, as PyTorch's CPU kernels compute it.

    Returns (first, stop, padded_count): the real elements first <= h < stop, and the length of
    the window clipped to the padded input (the count_include_pad divisor along this axis).
    """
    start = index * stride - padding
    end = min(start + kernel, size + padding)
    return max(start, 0), min(end, size), end - start


@jit
def _adaptive_bin(index, size, output_size):
    """Bin `index` along one axis: floor(index*size/out) <= h < ceil((index+1)*size/out)."""
    return (index * size) // output_size, ((index + 1) * size + output_size - 1) // output_size


# Values per block of the window and bin sums (see "Rounding" above): long enough that the
# vectorised block loop runs at the speed of a plain float32 sum (measured: 128-512 all within
# noise of it, on 4M values and on 4096 planes of 1024), short enough that one block's float32
# rounding stays small. The block loops are written out in each plane function: a helper
# function for them was not inlined and made average pooling 3-4x slower.
_BLOCK = 256


@jit
def _max_pool_plane(x, kernel_size, stride, padding, y, indices):
    """x (H, W) -> y, indices (Ho, Wo): PyTorch's scan (replace if larger or NaN)."""
    width = x.shape[1]
    for oh in range(y.shape[0]):
        h_first, h_stop, _ = _window(oh, kernel_size[0], stride[0], padding[0], x.shape[0])
        for ow in range(y.shape[1]):
            w_first, w_stop, _ = _window(ow, kernel_size[1], stride[1], padding[1], width)
            # Starting from the first element instead of PyTorch's -inf gives the same value
            # and index: the first element is either > -inf, NaN, or -inf (kept either way).
            best = x[h_first, w_first]
            best_index = h_first * width + w_first
            for h in range(h_first, h_stop):
                row = x[h, w_first:w_stop]
                for k in range(row.size):
                    value = row[k]
                    if value > best or np.isnan(value):
                        best = value
                        best_index = h * width + w_first + k
            y[oh, ow] = best
            indices[oh, ow] = best_index


@jit
def _max_pool_backward_plane(grad_out, indices, grad_input):
    """grad_out, indices (Ho*Wo,) -> grad_input (H*W,): scatter-add to the chosen elements."""
    grad_input[:] = 0
    for o in range(grad_out.size):
        grad_input[indices[o]] += grad_out[o]


@jit
def _avg_pool_divisor_at(oh, ow, input_shape, kernel_size, stride, padding, count_include_pad):
    """(h_first, h_stop, w_first, w_stop, divisor) of output (oh, ow) of avg pooling."""
    h_first, h_stop, h_padded = _window(oh, kernel_size[0], stride[0], padding[0],
                                        input_shape[0])
    w_first, w_stop, w_padded = _window(ow, kernel_size[1], stride[1], padding[1],
                                        input_shape[1])
    if count_include_pad:
        divisor = h_padded * w_padded
    else:
        divisor = (h_stop - h_first) * (w_stop - w_first)
    return h_first, h_stop, w_first, w_stop, divisor


@jit
def _avg_pool_plane(x, kernel_size, stride, padding, count_include_pad, y):
    """x (H, W) -> y (Ho, Wo): window sums, rounded to x's dtype and divided by the typed
    divisor. A window of at most _BLOCK values is one block, summed in x's dtype."""
    if kernel_size[0] * kernel_size[1] > _BLOCK:
        _avg_pool_plane_blocked(x, kernel_size, stride, padding, count_include_pad, y)
        return
    for oh in range(y.shape[0]):
        for ow in range(y.shape[1]):
            h_first, h_stop, w_first, w_stop, divisor = _avg_pool_divisor_at(
                oh, ow, x.shape, kernel_size, stride, padding, count_include_pad)
            total = x.dtype.type(0)  # typed: float32 sums stay float32
            for h in range(h_first, h_stop):
                row = x[h, w_first:w_stop]
                for k in range(row.size):
                    total += row[k]
            y[oh, ow] = total / x.dtype.type(divisor)


@jit
def _avg_pool_plane_blocked(x, kernel_size, stride, padding, count_include_pad, y):
    """_avg_pool_plane for windows of more than _BLOCK values: each row of a window is cut
    into blocks summed in x's dtype, and the block sums are added in float64. (The block loop
    costs 15-40% on small windows, hence the separate function.)"""
    for oh in range(y.shape[0]):
        for ow in range(y.shape[1]):
            h_first, h_stop, w_first, w_stop, divisor = _avg_pool_divisor_at(
                oh, ow, x.shape, kernel_size, stride, padding, count_include_pad)
            total = np.float64(0)  # float64: the sum of the blocks' sums
            for h in range(h_first, h_stop):
                for start in range(w_first, w_stop, _BLOCK):
                    block = x[h, start:min(start + _BLOCK, w_stop)]
                    block_total = x.dtype.type(0)
                    for k in range(block.size):
                        block_total += block[k]
                    total += block_total
            y[oh, ow] = x.dtype.type(total) / x.dtype.type(divisor)


@jit
def _avg_pool_backward_plane(grad_out, kernel_size, stride, padding, count_include_pad,
                             grad_input):
    """grad_out (Ho, Wo) -> grad_input (H, W): each window's share added to its elements."""
    grad_input[:] = 0
    for oh in range(grad_out.shape[0]):
        for ow in range(grad_out.shape[1]):
            h_first, h_stop, w_first, w_stop, divisor = _avg_pool_divisor_at(
                oh, ow, grad_input.shape, kernel_size, stride, padding, count_include_pad)
            share = grad_out[oh, ow] / grad_out.dtype.type(divisor)
            for h in range(h_first, h_stop):
                row = grad_input[h, w_first:w_stop]
                for k in range(row.size):
                    row[k] += share


@jit
def _adaptive_avg_pool_plane(x, y):
    """x (H, W) -> y (Ho, Wo): bin sums, divided by kh then kw (as PyTorch), for a plane of at
    most _BLOCK values (the 7x7 to 16x16 heads of CNNs): one block, summed in x's dtype."""
    height, width = x.shape
    output_height, output_width = y.shape
    flat = x.reshape(height * width)
    for oh in range(output_height):
        h0, h1 = _adaptive_bin(oh, height, output_height)
        for ow in range(output_width):
            w0, w1 = _adaptive_bin(ow, width, output_width)
            total = x.dtype.type(0)  # typed: float32 sums stay float32
            if w1 - w0 == width:
                # full rows are one contiguous run: a single long loop that vectorises
                # (global average pooling: about 10x faster than row by row)
                run = flat[h0 * width:h1 * width]
                for k in range(run.size):
                    total += run[k]
            else:
                for h in range(h0, h1):
                    row = x[h, w0:w1]
                    for k in range(row.size):
                        total += row[k]
            y[oh, ow] = total / x.dtype.type(h1 - h0) / x.dtype.type(w1 - w0)


@jit
def _adaptive_avg_pool_plane_blocked(x, y):
    """_adaptive_avg_pool_plane for planes of more than _BLOCK values: the bins are cut into
    blocks summed in x's dtype, and the block sums are added in float64, rounded to x's dtype
    at the end. (The block loops cost 10-15% on small planes, hence the separate function.)"""
    height, width = x.shape
    output_height, output_width = y.shape
    flat = x.reshape(height * width)
    for oh in range(output_height):
        h0, h1 = _adaptive_bin(oh, height, output_height)
        for ow in range(output_width):
            w0, w1 = _adaptive_bin(ow, width, output_width)
            total = np.float64(0)  # float64: the sum of the blocks' float32 sums
            if w1 - w0 == width:
                # full rows are one contiguous run, cut into blocks that vectorise (global
                # average pooling: about 10x faster than row by row)
                for start in range(h0 * width, h1 * width, _BLOCK):
                    block = flat[start:min(start + _BLOCK, h1 * width)]
                    block_total = x.dtype.type(0)
                    for k in range(block.size):
                        block_total += block[k]
                    total += block_total
            else:
                for h in range(h0, h1):
                    for start in range(w0, w1, _BLOCK):
                        block = x[h, start:min(start + _BLOCK, w1)]
                        block_total = x.dtype.type(0)
                        for k in range(block.size):
                            block_total += block[k]
                        total += block_total
            y[oh, ow] = x.dtype.type(total) / x.dtype.type(h1 - h0) / x.dtype.type(w1 - w0)


@jit
def _adaptive_avg_pool_backward_plane(grad_out, grad_input):
    """grad_out (Ho, Wo) -> grad_input (H, W): each bin's share added to its elements."""
    height, width = grad_input.shape
    output_height, output_width = grad_out.shape
    grad_input[:] = 0
    for oh in range(output_height):
        h0, h1 = _adaptive_bin(oh, height, output_height)
        for ow in range(output_width):
            w0, w1 = _adaptive_bin(ow, width, output_width)
            share = grad_out[oh, ow] / grad_out.dtype.type(h1 - h0) / grad_out.dtype.type(w1 - w0)
            for h in range(h0, h1):
                row = grad_input[h, w0:w1]
                for k in range(row.size):
                    row[k] += share


# --- Drivers over the N*C planes: each jitted serially and in parallel. ---------------------
# Arrays are C-contiguous stacks of planes: x, grad_input (N*C, H, W); y, grad_out, indices
# (N*C, Ho, Wo) (the max-pool backward uses flat planes, (N*C, H*W) and (N*C, Ho*Wo)).

def _max_pool_forward_planes(x, kernel_size, stride, padding, y, indices):
    for plane in prange(x.shape[0]):
        _max_pool_plane(x[plane], kernel_size, stride, padding, y[plane], indices[plane])


def _max_pool_backward_planes(grad_out, indices, grad_input):
    for plane in prange(grad_input.shape[0]):
        _max_pool_backward_plane(grad_out[plane], indices[plane], grad_input[plane])


def _avg_pool_forward_planes(x, kernel_size, stride, padding, count_include_pad, y):
    for plane in prange(x.shape[0]):
        _avg_pool_plane(x[plane], kernel_size, stride, padding, count_include_pad, y[plane])


def _avg_pool_backward_planes(grad_out, kernel_size, stride, padding, count_include_pad,
                              grad_input):
    for plane in prange(grad_input.shape[0]):
        _avg_pool_backward_plane(grad_out[plane], kernel_size, stride, padding,
                                 count_include_pad, grad_input[plane])


def _adaptive_avg_pool_forward_planes(x, y):
    if x.shape[1] * x.shape[2] > _BLOCK:  # chosen once, outside the loop over the planes
        for plane in prange(x.shape[0]):
            _adaptive_avg_pool_plane_blocked(x[plane], y[plane])
    else:
        for plane in prange(x.shape[0]):
            _adaptive_avg_pool_plane(x[plane], y[plane])


def _adaptive_avg_pool_backward_planes(grad_out, grad_input):
    for plane in prange(grad_input.shape[0]):
        _adaptive_avg_pool_backward_plane(grad_out[plane], grad_input[plane])


_max_pool_forward_serial, _max_pool_forward_parallel = _serial_and_parallel(
    _max_pool_forward_planes)
_max_pool_backward_serial, _max_pool_backward_parallel = _serial_and_parallel(
    _max_pool_backward_planes)
_avg_pool_forward_serial, _avg_pool_forward_parallel = _serial_and_parallel(
    _avg_pool_forward_planes)
_avg_pool_backward_serial, _avg_pool_backward_parallel = _serial_and_parallel(
    _avg_pool_backward_planes)
_adaptive_forward_serial, _adaptive_forward_parallel = _serial_and_parallel(
    _adaptive_avg_pool_forward_planes)
_adaptive_backward_serial, _adaptive_backward_parallel = _serial_and_parallel(
    _adaptive_avg_pool_backward_planes)


# ----------------------------------------------------------------------------------------------
# Python wrappers: same signatures as the references.
# ----------------------------------------------------------------------------------------------

def _pick(serial, parallel, elements):
    """Below PARALLEL_MIN_ELEMENTS elements the serial driver wins: waking threads costs more."""
    return serial if elements < PARALLEL_MIN_ELEMENTS else parallel


def _planes(array):
    """(N, C, H, W) -> the C-contiguous (N*C, H, W) stack of planes (copied only if needed)."""
    return np.ascontiguousarray(array).reshape((-1,) + array.shape[2:])


def _pair(values):
    """A (height, width) pair as a tuple of Python ints: one Numba signature for all callers."""
    return int(values[0]), int(values[1])


def max_pool2d_forward_numba(x: np.ndarray, kernel_size: tuple[int, int],
                             stride: tuple[int, int], padding: tuple[int, int]
                             ) -> tuple[np.ndarray, np.ndarray]:
    samples, channels, height, width = x.shape
    kernel_size, stride, padding = _pair(kernel_size), _pair(stride), _pair(padding)
    output_shape = (_output_size(height, kernel_size[0], stride[0], padding[0]),
                    _output_size(width, kernel_size[1], stride[1], padding[1]))
    planes = _planes(x)
    y = np.empty((planes.shape[0],) + output_shape, dtype=x.dtype)
    indices = np.empty(y.shape, dtype=np.int64)
    kernel = _pick(_max_pool_forward_serial, _max_pool_forward_parallel, x.size)
    kernel(planes, kernel_size, stride, padding, y, indices)
    full_shape = (samples, channels) + output_shape
    return y.reshape(full_shape), indices.reshape(full_shape)


def max_pool2d_backward_numba(grad_out: np.ndarray, indices: np.ndarray,
                              input_shape: tuple[int, int, int, int]) -> np.ndarray:
    samples, channels, height, width = input_shape
    planes = samples * channels
    flat_grad_out = np.ascontiguousarray(grad_out).reshape(planes, -1)
    flat_indices = np.ascontiguousarray(indices, dtype=np.int64).reshape(planes, -1)
    grad_input = np.empty((planes, height * width), dtype=grad_out.dtype)
    kernel = _pick(_max_pool_backward_serial, _max_pool_backward_parallel, grad_input.size)
    kernel(flat_grad_out, flat_indices, grad_input)
    return grad_input.reshape(tuple(input_shape))


def avg_pool2d_forward_numba(x: np.ndarray, kernel_size: tuple[int, int],
                             stride: tuple[int, int], padding: tuple[int, int],
                             count_include_pad: bool) -> np.ndarray:
    samples, channels, height, width = x.shape
    kernel_size, stride, padding = _pair(kernel_size), _pair(stride), _pair(padding)
    output_shape = (_output_size(height, kernel_size[0], stride[0], padding[0]),
                    _output_size(width, kernel_size[1], stride[1], padding[1]))
    planes = _planes(x)
    y = np.empty((planes.shape[0],) + output_shape, dtype=x.dtype)
    kernel = _pick(_avg_pool_forward_serial, _avg_pool_forward_parallel, x.size)
    kernel(planes, kernel_size, stride, padding, bool(count_include_pad), y)
    return y.reshape((samples, channels) + output_shape)


def avg_pool2d_backward_numba(grad_out: np.ndarray, input_shape: tuple[int, int, int, int],
                              kernel_size: tuple[int, int], stride: tuple[int, int],
                              padding: tuple[int, int], count_include_pad: bool
                              ) -> np.ndarray:
    samples, channels, height, width = input_shape
    grad_input = np.empty((samples * channels, height, width), dtype=grad_out.dtype)
    kernel = _pick(_avg_pool_backward_serial, _avg_pool_backward_parallel, grad_input.size)
    kernel(_planes(grad_out), _pair(kernel_size), _pair(stride), _pair(padding),
           bool(count_include_pad), grad_input)
    return grad_input.reshape(tuple(input_shape))


def adaptive_avg_pool2d_forward_numba(x: np.ndarray, output_size: tuple[int, int]
                                      ) -> np.ndarray:
    samples, channels = x.shape[:2]
    output_size = _pair(output_size)
    planes = _planes(x)
    y = np.empty((planes.shape[0],) + output_size, dtype=x.dtype)
    kernel = _pick(_adaptive_forward_serial, _adaptive_forward_parallel, x.size)
    kernel(planes, y)
    return y.reshape((samples, channels) + output_size)


def adaptive_avg_pool2d_backward_numba(grad_out: np.ndarray,
                                       input_shape: tuple[int, int, int, int]) -> np.ndarray:
    samples, channels, height, width = input_shape
    grad_input = np.empty((samples * channels, height, width), dtype=grad_out.dtype)
    kernel = _pick(_adaptive_backward_serial, _adaptive_backward_parallel, grad_input.size)
    kernel(_planes(grad_out), grad_input)
    return grad_input.reshape(tuple(input_shape))


KERNELS = {
    "max_pool2d_forward": (max_pool2d_forward_reference, max_pool2d_forward_numba),
    "max_pool2d_backward": (max_pool2d_backward_reference, max_pool2d_backward_numba),
    "avg_pool2d_forward": (avg_pool2d_forward_reference, avg_pool2d_forward_numba),
    "avg_pool2d_backward": (avg_pool2d_backward_reference, avg_pool2d_backward_numba),
    "adaptive_avg_pool2d_forward": (adaptive_avg_pool2d_forward_reference,
                                    adaptive_avg_pool2d_forward_numba),
    "adaptive_avg_pool2d_backward": (adaptive_avg_pool2d_backward_reference,
                                     adaptive_avg_pool2d_backward_numba),
}

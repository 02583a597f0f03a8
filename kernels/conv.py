"""2-D convolution, as torch.nn.functional.conv2d: cross-correlation with zero padding.

Shapes follow PyTorch: x (N, C, H, W), weight (O, C/G, kh, kw) with G = groups dividing C
and O, bias (O,) or None, y (N, O, Ho, Wo) with

    Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1,    Wo likewise from W, pw, dw, kw, sw,
    y[n, o, a, b] = bias[o] + sum_{c in group(o), i, j}
                    weight[o, c - g(o) C/G, i, j] * x_padded[n, c, a sh + i dh, b sw + j dw],

where x_padded is x with ph rows and pw columns of zeros on each side, and output channel o
belongs to group g(o) = o // (O/G), which sees input channels g(o) C/G ... (g(o)+1) C/G - 1.
stride = (sh, sw), padding = (ph, pw), dilation = (dh, dw) are pairs of ints, already
validated by the caller (minidl.functional.conv); all arrays share one float dtype.

im2col turns the convolution into matrix products. For one image, the (C kh kw, Ho Wo)
matrix `cols` holds in row (c kh + i) kw + j the input pixels that kernel tap (c, i, j) meets
at each output position:

    cols[(c kh + i) kw + j, a Wo + b] = x_padded[c, a sh + i dh, b sw + j dw]

and with K = C/G kh kw rows per group and the weight seen as (G, O/G, K) matrices W_g,

    y_image[group g]   = W_g @ cols_g                          (O/G, Ho Wo)
    grad_W_g          += grad_out_image[group g] @ cols_g^T    (O/G, K), summed over images
    grad_cols_g        = W_g^T @ grad_out_image[group g]       (K, Ho Wo)
    grad_input_image   = col2im(grad_cols)   (each entry added back to the pixel it came from)
    grad_bias[o]       = sum over n, a, b of grad_out[n, o, a, b]

with cols_g = cols[g K:(g+1) K] and grad_out_image[group g] its rows g O/G:(g+1) O/G.

The Numba kernels (../shared/KERNELS.md, measured on this machine): a parallel loop over
ranges of images, one range per thread. Each range owns a scratch `cols` buffer for one image
(kept in cache between im2col and the product) and calls BLAS once per image and group; np.dot
inside a kernel is SciPy's OpenBLAS, held at one thread by _config, so Numba's pool is the only
one running. One im2col of the whole batch and one big product was 3x slower. grad_input is
written image by image (each image owned by one range: no races); grad_weight and grad_bias
are summed per range into private float64 partials, which are added up serially afterwards.
Float64, because a float32 running sum over the images drifts with N (grad_weight of a 1x1
convolution, 2 -> 2 channels, over 2^16 images of 8x8 came out 5e-5 off, relative); each
image's own product is BLAS's float32 sum over its Ho*Wo positions, whose length does not grow
with the batch.
The ranges depend on the thread count, so the parallel result can differ from the serial one
in the last bit of grad_weight and grad_bias (the order of the float64 sum over images, seen
only where rounding that sum to float32 falls on a tie).

The products take nearly all the time (at (64, 32, 16, 16) -> 64, 3x3: 93% of the forward on
one thread), so each is arranged the way OpenBLAS runs it fastest (GF/s on one thread, SkylakeX
kernels on Zen 4): y = W_g @ cols_g (64x288x256: 86; OpenBLAS is slow for 64 output rows
whatever the width); grad_W_g^T = cols_g @ grad_out_g^T (288x256x64: 98); grad_cols_g =
W_g^T @ grad_out_g with W_g^T stored transposed (288x64x256: 98, 93 through a transposed view).
Tried and dropped: a pixel-major patch matrix (Ho Wo, K) for several images at once, whose
product (1024x288x64) runs at 99 GF/s but comes out as (positions, O) and had to be transposed
back into NCHW: with the channels-last copy and the transposes it was no faster on 2 threads
at C = 32 and 2x slower at C = 3.
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, prange

from ._config import jit, jit_parallel

# numba.get_num_threads() is called in the Python wrappers and passed in: called inside a
# kernel it makes the kernel uncacheable (Numba: "uses dynamic globals").

# Below this many multiply-adds (N * O * C/G * kh * kw * Ho * Wo) the serial kernel wins: one
# thread does roughly 40-50 G multiply-adds/s in BLAS, so this is 40-80 us of work, against a
# few microseconds to fork and join Numba's pool (80-160 us when it has gone to sleep).
PARALLEL_MIN_MACS = 1 << 22


def conv2d_output_size(height, width, kernel_size, stride, padding, dilation):
    """(Ho, Wo) by PyTorch's formula:
    (size + 2 padding - dilation (kernel - 1) - 1) // stride + 1 per spatial axis."""
    return tuple((size + 2 * pad - dil * (kernel - 1) - 1) // step + 1
                 for size, kernel, step, pad, dil
                 in zip((height, width), kernel_size, stride, padding, dilation))


# ----------------------------------------------------------------------------------------------
# NumPy references: the math as written, the test oracle and the "naive NumPy" baseline.
# ----------------------------------------------------------------------------------------------

def _im2col_reference(x, kernel_size, stride, padding, dilation):
    """cols[n, c, i, j, a, b] = x_padded[n, c, a sh + i dh, b sw + j dw].

    x (N, C, H, W) -> cols (N, C, kh, kw, Ho, Wo): for each kernel tap (i, j), the pixels it
    meets at every output position, taken as one strided slice of the zero-padded input.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    out_h, out_w = conv2d_output_size(*x.shape[2:], kernel_size, stride, padding, dilation)
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty(x.shape[:2] + (kh, kw, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x_padded[:, :, i * dh: i * dh + sh * (out_h - 1) + 1: sh,
                                              j * dw: j * dw + sw * (out_w - 1) + 1: sw]
    return cols


def _col2im_reference(cols, input_shape, stride, padding, dilation):
    """The adjoint of _im2col_reference: add every entry of cols back to the pixel it came from.

    cols (N, C, kh, kw, Ho, Wo) -> (N, C, H, W) (contributions to the padding are dropped).
    """
    n, channels, height, width = input_shape
    kh, kw, out_h, out_w = cols.shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    grad_padded = np.zeros((n, channels, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            grad_padded[:, :, i * dh: i * dh + sh * (out_h - 1) + 1: sh,
                              j * dw: j * dw + sw * (out_w - 1) + 1: sw] += cols[:, :, i, j]
    return np.ascontiguousarray(grad_padded[:, :, ph: ph + height, pw: pw + width])


def _weight_matrices(weight, groups):
    """weight (O, C/G, kh, kw) as G matrices (G, O/G, K), K = C/G kh kw."""
    out_channels, in_per_group, kh, kw = weight.shape
    return weight.reshape(groups, out_channels // groups, in_per_group * kh * kw)


def conv2d_forward_reference(x, weight, bias, stride, padding, dilation, groups):
    """y = conv2d(x, weight) + bias by im2col and one matrix product per image and group.

    x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,) or None; stride, padding, dilation
    (int, int); groups G. Returns y (N, O, Ho, Wo) in x's dtype.
    """
    n = x.shape[0]
    out_channels, in_per_group, kh, kw = weight.shape
    cols = _im2col_reference(x, (kh, kw), stride, padding, dilation)  # (N, C, kh, kw, Ho, Wo)
    out_h, out_w = cols.shape[4:]
    cols = cols.reshape(n, groups, in_per_group * kh * kw, out_h * out_w)  # (N, G, K, Ho Wo)
    y = _weight_matrices(weight, groups) @ cols                          # (N, G, O/G, Ho Wo)
    y = y.reshape(n, out_channels, out_h, out_w)
    if bias is not None:
        y = y + bias.reshape(out_channels, 1, 1)
    return y


def conv2d_backward_reference(grad_out, x, weight, stride, padding, dilation, groups,
                              needs_input_grad, needs_weight_grad, has_bias):
    """Gradients of y = conv2d(x, weight) + bias, by im2col / col2im and matrix products.

    grad_out (N, O, Ho, Wo) = dL/dy, x (N, C, H, W), weight (O, C/G, kh, kw).
    Returns (grad_input (N, C, H, W), grad_weight (O, C/G, kh, kw), grad_bias (O,)), each
    None when its flag is False.
    """
    n = x.shape[0]
    out_channels, in_per_group, kh, kw = weight.shape
    out_h, out_w = grad_out.shape[2:]
    # (N, G, O/G, Ho Wo): the output channels of each group as one matrix per image
    grad_out_groups = grad_out.reshape(n, groups, out_channels // groups, out_h * out_w)

    grad_input = grad_weight = grad_bias = None
    if needs_weight_grad:
        cols = _im2col_reference(x, (kh, kw), stride, padding, dilation)
        cols = cols.reshape(n, groups, in_per_group * kh * kw, out_h * out_w)
        per_image = grad_out_groups @ cols.transpose(0, 1, 3, 2)         # (N, G, O/G, K)
        # the sums over images (and, for grad_bias, positions) in float64: NumPy adds along
        # the batch axis one image after the other, which in float32 drifts with N
        grad_weight = per_image.sum(axis=0, dtype=np.float64).astype(x.dtype).reshape(
            weight.shape)
    if needs_input_grad:
        grad_cols = _weight_matrices(weight, groups).transpose(0, 2, 1) @ grad_out_groups
        # (N, G, K, Ho Wo) -> (N, C, kh, kw, Ho, Wo), the layout col2im adds back
        grad_cols = grad_cols.reshape(x.shape[:2] + (kh, kw, out_h, out_w))
        grad_input = _col2im_reference(grad_cols, x.shape, stride, padding, dilation)
    if has_bias:
        grad_bias = grad_out.sum(axis=(0, 2, 3), dtype=np.float64).astype(grad_out.dtype)
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------------------------
# Numba kernels
# ----------------------------------------------------------------------------------------------
# np.dot(a, b, out) inside Numba needs a and b typed 'C' or 'F' and out typed 'C', else it
# copies (and an 'A' out would receive the result in a copy that is thrown away). Below,
# every operand is a first-axis slice of a C-contiguous array (x[n], cols[r0:r1], which stay
# 'C') or its transpose ('F'); never a slice like a[r0:r1, :], which Numba types 'A'.
#
# geometry is the flat tuple (kh, kw, sh, sw, ph, pw, dh, dw): flat because a tuple of tuples
# cannot be passed into a prange body (Numba's parfor gufunc rejects it).
#
# im2col and col2im go through a zero-bordered copy of the image, (C, H + 2 ph, W + 2 pw),
# so that every tap reads (or adds to) a valid position and the copy loops have no bounds
# logic at all. Clipping each run to the image instead cost more than the copy: im2col of
# (64, 32, 16, 16) took 1.43 ms with clipping and 0.52 ms through the padded copy, col2im
# 1.05 -> 0.58 ms (one thread). The border of the im2col copy is zeroed once per call and
# never written again; the col2im copy is zeroed per image, and its border, which collects
# the contributions to the padding, is dropped.
#
# Index arithmetic in the copy loops: Numba accepts negative indices (a[-1]), so every signed
# integer index gets a "wrap around if < 0" select, which leaves the loop scalar (im2col of
# (64, 32, 16, 16) took 6.4 ms this way). np.uintp indices skip that check. Every index below
# is non-negative by construction.

@jit
def _pad_image(x_image, ph, pw, padded):
    """padded[c, ph + y, pw + x] = x_image[c, y, x]; the border of padded is left alone.

    x_image (C, H, W); padded (C, H + 2 ph, W + 2 pw).
    """
    channels, height, width = x_image.shape
    padded_h, padded_w = padded.shape[1], padded.shape[2]
    x_flat = x_image.reshape(x_image.size)
    padded_flat = padded.reshape(padded.size)
    for c in range(channels):
        for y in range(height):
            source = (c * height + y) * width
            target = (c * padded_h + ph + y) * padded_w + pw
            for x in range(width):
                padded_flat[np.uintp(target + x)] = x_flat[np.uintp(source + x)]


@jit
def _crop_image(padded, ph, pw, image):
    """image[c, y, x] = padded[c, ph + y, pw + x]: the inverse of _pad_image."""
    channels, height, width = image.shape
    padded_h, padded_w = padded.shape[1], padded.shape[2]
    image_flat = image.reshape(image.size)
    padded_flat = padded.reshape(padded.size)
    for c in range(channels):
        for y in range(height):
            source = (c * padded_h + ph + y) * padded_w + pw
            target = (c * height + y) * width
            for x in range(width):
                image_flat[np.uintp(target + x)] = padded_flat[np.uintp(source + x)]


@jit
def _im2col_image(padded, geometry, out_h, out_w, cols):
    """cols[(c kh + i) kw + j, a Wo + b] = padded[c, a sh + i dh, b sw + j dw] for one image.

    padded (C, H + 2 ph, W + 2 pw): the image with its zero border; cols (C kh kw, Ho Wo),
    overwritten.
    """
    kh, kw, sh, sw, _, _, dh, dw = geometry
    channels, padded_h, padded_w = padded.shape
    padded_flat = padded.reshape(padded.size)
    cols_flat = cols.reshape(cols.size)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row_start = ((c * kh + i) * kw + j) * out_h * out_w
                for a in range(out_h):
                    target = row_start + a * out_w       # flat index of cols[row, a Wo]
                    source = (c * padded_h + a * sh + i * dh) * padded_w + j * dw
                    if sw == 1:  # a contiguous copy, which LLVM vectorises
                        for b in range(out_w):
                            cols_flat[np.uintp(target + b)] = padded_flat[np.uintp(source + b)]
                    else:
                        for b in range(out_w):
                            cols_flat[np.uintp(target + b)] = padded_flat[np.uintp(source + b * sw)]


@jit
def _col2im_image(cols, geometry, out_h, out_w, padded):
    """The adjoint of _im2col_image: padded[c, y, x] += every cols entry read from (c, y, x).

    cols (C kh kw, Ho Wo); padded (C, H + 2 ph, W + 2 pw), added to (the caller zeroes it and
    keeps its interior).
    """
    kh, kw, sh, sw, _, _, dh, dw = geometry
    channels, padded_h, padded_w = padded.shape
    padded_flat = padded.reshape(padded.size)
    cols_flat = cols.reshape(cols.size)
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row_start = ((c * kh + i) * kw + j) * out_h * out_w
                for a in range(out_h):
                    source = row_start + a * out_w
                    target = (c * padded_h + a * sh + i * dh) * padded_w + j * dw
                    if sw == 1:
                        for b in range(out_w):
                            padded_flat[np.uintp(target + b)] += cols_flat[np.uintp(source + b)]
                    else:
                        for b in range(out_w):
                            padded_flat[np.uintp(target + b * sw)] += cols_flat[np.uintp(source + b)]


@jit
def _conv_forward_images(x, weight_matrices, bias, has_bias, geometry, y, image_start,
                         image_stop):
    """y[n] = conv2d(x[n], weight) (+ bias) for images image_start:image_stop; the serial kernel.

    x (N, C, H, W); weight_matrices (G, O/G, K), the weight as one matrix per group; bias (O,)
    (read only when has_bias); y (N, O, Ho, Wo) output. All C-contiguous.
    """
    groups, out_per_group, k = weight_matrices.shape
    _, channels, height, width = x.shape
    _, out_channels, out_h, out_w = y.shape
    _, _, _, _, ph, pw, _, _ = geometry
    # scratch, reused for every image; the zero border of `padded` is written only here
    padded = np.zeros((channels, height + 2 * ph, width + 2 * pw), dtype=x.dtype)
    cols = np.empty((groups * k, out_h * out_w), dtype=x.dtype)
    for n in range(image_start, image_stop):
        _pad_image(x[n], ph, pw, padded)
        _im2col_image(padded, geometry, out_h, out_w, cols)
        y_image = y[n].reshape((out_channels, out_h * out_w))
        for g in range(groups):
            np.dot(weight_matrices[g], cols[g * k:(g + 1) * k],
                   y_image[g * out_per_group:(g + 1) * out_per_group])
        if has_bias:  # added while this image's output is still in cache
            for o in range(out_channels):
                for p in range(out_h * out_w):
                    y_image[o, p] += bias[o]


@jit_parallel
def _conv_forward_parallel(x, weight_matrices, bias, has_bias, geometry, y, threads):
    """_conv_forward_images with one range of images per thread (threads >= 1)."""
    n = x.shape[0]
    ranges = min(threads, n)
    for r in prange(ranges):
        _conv_forward_images(x, weight_matrices, bias, has_bias, geometry, y,
                             r * n // ranges, (r + 1) * n // ranges)


@jit
def _conv_backward_images(grad_out, x, weight_t, geometry, flags, image_start, image_stop,
                          grad_input, grad_weight_t, bias_sums):
    """Backward for images image_start:image_stop, one image at a time.

    grad_out (N, O, Ho, Wo), x (N, C, H, W); weight_t (G, K, O/G): W_g^T per group, stored
    transposed so that grad_cols_g = W_g^T @ grad_out_g is a plain product (98 GF/s in
    OpenBLAS for 288x64x256, against 93 through a transposed view); all C-contiguous.
    flags: (needs_input_grad, needs_weight_grad, has_bias).
    Outputs, each touched only when its flag is set:
      grad_input (N, C, H, W): images image_start:image_stop overwritten;
      grad_weight_t (G, K, O/G) float64: overwritten with these images' sum of grad_weight,
        transposed per group (the layout its product comes out of BLAS fastest, see below);
      bias_sums (O,) float64: overwritten with these images' sums of grad_out per channel.
    """
    needs_input_grad, needs_weight_grad, has_bias = flags
    groups, k, out_per_group = weight_t.shape
    _, channels, height, width = x.shape
    _, out_channels, out_h, out_w = grad_out.shape
    _, _, _, _, ph, pw, _, _ = geometry
    padded = np.zeros((channels, height + 2 * ph, width + 2 * pw), dtype=x.dtype)
    grad_padded = np.empty_like(padded)   # separate: col2im also writes the border
    cols = np.empty((groups * k, out_h * out_w), dtype=x.dtype)
    image_grad_weight_t = np.empty((k, out_per_group), dtype=x.dtype)
    grad_weight_t[:] = 0
    bias_sums[:] = 0.0
    for n in range(image_start, image_stop):
        grad_out_image = grad_out[n].reshape((out_channels, out_h * out_w))
        if needs_weight_grad:
            _pad_image(x[n], ph, pw, padded)
            _im2col_image(padded, geometry, out_h, out_w, cols)
            for g in range(groups):
                # grad_weight_g^T = cols_g @ grad_out_g^T: measured 2x faster in OpenBLAS than
                # grad_out_g @ cols_g^T for (64, 256) x (256, 288). np.dot overwrites its
                # output, so one image's product is added to the sum afterwards.
                np.dot(cols[g * k:(g + 1) * k],
                       grad_out_image[g * out_per_group:(g + 1) * out_per_group].T,
                       image_grad_weight_t)
                sum_t = grad_weight_t[g]
                for r in range(k):
                    for o in range(out_per_group):
                        sum_t[r, o] += image_grad_weight_t[r, o]
        if has_bias:
            for o in range(out_channels):
                total = np.float64(0)  # not 0.0: without the JIT, 0.0 + float32 is float32
                for p in range(out_h * out_w):
                    total += grad_out_image[o, p]
                bias_sums[o] += total
        if needs_input_grad:
            # cols is free again: it now receives grad_cols_g = W_g^T @ grad_out_g
            for g in range(groups):
                np.dot(weight_t[g], grad_out_image[g * out_per_group:(g + 1) * out_per_group],
                       cols[g * k:(g + 1) * k])
            grad_padded[:] = 0
            _col2im_image(cols, geometry, out_h, out_w, grad_padded)
            _crop_image(grad_padded, ph, pw, grad_input[n])


@jit
def _weight_partials(ranges, weight_t, needs_weight_grad):
    """Uninitialised per-range float64 slots (ranges, G, K, O/G) for grad_weight; zero-sized in
    K when grad_weight is not requested."""
    groups, k, out_per_group = weight_t.shape
    return np.empty((ranges, groups, k if needs_weight_grad else 0, out_per_group),
                    dtype=np.float64)


@jit
def _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums):
    """Add up the per-range partial sums, serially, in a fixed order.

    weight_partials (R, G, K, O/G) float64 -> grad_weight (O, C/G, kh, kw) (transposed back
    per group, rounded once to its dtype); bias_partials (R, O) -> bias_sums (O,), both float64.
    Empty outputs are left alone.
    """
    ranges, groups, k, out_per_group = weight_partials.shape
    if grad_weight.size > 0:
        grad_weight_matrices = grad_weight.reshape((groups, out_per_group, k))
        for g in range(groups):
            for o in range(out_per_group):
                for t in range(k):
                    total = weight_partials[0, g, t, o]
                    for part in range(1, ranges):
                        total += weight_partials[part, g, t, o]
                    grad_weight_matrices[g, o, t] = total
    for o in range(bias_sums.shape[0]):
        total = 0.0
        for part in range(ranges):
            total += bias_partials[part, o]
        bias_sums[o] = total


@jit
def _conv_backward_serial(grad_out, x, weight_t, geometry, flags, grad_input, grad_weight,
                          bias_sums):
    """The whole batch as one range. Arguments as in _conv_backward_images; grad_weight
    (O, C/G, kh, kw), or empty when not requested."""
    weight_partials = _weight_partials(1, weight_t, flags[1])
    bias_partials = np.empty((1, bias_sums.shape[0]))
    _conv_backward_images(grad_out, x, weight_t, geometry, flags, 0, x.shape[0],
                          grad_input, weight_partials[0], bias_partials[0])
    _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums)


@jit_parallel
def _conv_backward_parallel(grad_out, x, weight_t, geometry, flags, grad_input, grad_weight,
                            bias_sums, threads):
    """_conv_backward_serial with one range of images per thread (threads >= 1).

    Each range sums grad_weight and grad_bias into its own partial; the partials are added
    up serially afterwards (no thread writes a shared slot).
    """
    n = x.shape[0]
    ranges = min(threads, n)
    weight_partials = _weight_partials(ranges, weight_t, flags[1])
    bias_partials = np.empty((ranges, bias_sums.shape[0]))
    for r in prange(ranges):
        _conv_backward_images(grad_out, x, weight_t, geometry, flags,
                              r * n // ranges, (r + 1) * n // ranges,
                              grad_input, weight_partials[r], bias_partials[r])
    _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums)


def _c_contiguous(array):
    """array as a C-contiguous, writeable array (a copy only when needed). Read-only arrays
    would compile the kernels once more (Numba types them separately)."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


def _geometry(kernel_size, stride, padding, dilation):
    """The flat tuple (kh, kw, sh, sw, ph, pw, dh, dw) of Python ints (one Numba signature
    whatever int type the caller's pairs held)."""
    return tuple(int(v) for pair in (kernel_size, stride, padding, dilation) for v in pair)


def _use_parallel(n, weight, out_h, out_w):
    """Whether N * O * C/G * kh * kw * Ho * Wo multiply-adds are enough to pay for threads."""
    return n >= 2 and n * weight.size * out_h * out_w >= PARALLEL_MIN_MACS


def conv2d_forward_numba(x, weight, bias, stride, padding, dilation, groups):
    """conv2d by per-image im2col and BLAS in a Numba kernel; same signature and result as
    conv2d_forward_reference."""
    x = _c_contiguous(x)
    weight = _c_contiguous(weight)
    has_bias = bias is not None
    # Without a bias the kernel gets an empty array it never reads (one compile per dtype).
    bias = _c_contiguous(bias) if has_bias else np.empty(0, dtype=x.dtype)
    n, _, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = conv2d_output_size(height, width, (kh, kw), stride, padding, dilation)
    y = np.empty((n, out_channels, out_h, out_w), dtype=x.dtype)
    args = (x, _weight_matrices(weight, int(groups)), bias, has_bias,
            _geometry((kh, kw), stride, padding, dilation), y)
    if _use_parallel(n, weight, out_h, out_w):
        _conv_forward_parallel(*args, get_num_threads())
    else:
        _conv_forward_images(*args, 0, n)
    return y


def conv2d_backward_numba(grad_out, x, weight, stride, padding, dilation, groups,
                          needs_input_grad, needs_weight_grad, has_bias):
    """Gradients of conv2d by per-image im2col / col2im and BLAS in a Numba kernel; same
    signature and result as conv2d_backward_reference: (grad_input, grad_weight, grad_bias),
    None where not requested."""
    grad_out = _c_contiguous(grad_out)
    x = _c_contiguous(x)
    weight = _c_contiguous(weight)
    weight_t = np.ascontiguousarray(_weight_matrices(weight, int(groups)).transpose(0, 2, 1))
    dtype = x.dtype
    n, out_h, out_w = x.shape[0], grad_out.shape[2], grad_out.shape[3]
    # Outputs that are not requested are empty arrays the kernel never touches (one compile).
    grad_input = np.empty(x.shape if needs_input_grad else (0, 0, 0, 0), dtype=dtype)
    grad_weight = np.empty(weight.shape if needs_weight_grad else (0, 0, 0, 0), dtype=dtype)
    bias_sums = np.empty(weight.shape[0] if has_bias else 0, dtype=np.float64)
    flags = (bool(needs_input_grad), bool(needs_weight_grad), bool(has_bias))
    args = (grad_out, x, weight_t, _geometry(weight.shape[2:], stride, padding, dilation),
            flags, grad_input, grad_weight, bias_sums)
    if _use_parallel(n, weight, out_h, out_w):
        _conv_backward_parallel(*args, get_num_threads())
    else:
        _conv_backward_serial(*args)
    return (grad_input if needs_input_grad else None,
            grad_weight if needs_weight_grad else None,
            bias_sums.astype(dtype) if has_bias else None)


KERNELS = {
    "conv2d_forward": (conv2d_forward_reference, conv2d_forward_numba),
    "conv2d_backward": (conv2d_backward_reference, conv2d_backward_numba),
}

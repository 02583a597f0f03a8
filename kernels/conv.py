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
blocks of images, one block per thread. Each block owns a scratch `cols` buffer for one image
(kept in cache between im2col and the product) and calls BLAS once per image and group; np.dot
inside a kernel is SciPy's OpenBLAS, held at one thread by _config, so Numba's pool is the only
one running. One im2col of the whole batch and one big product was 3x slower. grad_input is
written image by image (each image owned by one block: no races); grad_weight and grad_bias
are summed per block into private partials, which are added up serially afterwards. The
blocks depend on the thread count, so the parallel result can differ from the serial one in
the last bits of grad_weight and grad_bias (the order of the sum over images).
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
        grad_weight = per_image.sum(axis=0).reshape(weight.shape)
    if needs_input_grad:
        grad_cols = _weight_matrices(weight, groups).transpose(0, 2, 1) @ grad_out_groups
        # (N, G, K, Ho Wo) -> (N, C, kh, kw, Ho, Wo), the layout col2im adds back
        grad_cols = grad_cols.reshape(x.shape[:2] + (kh, kw, out_h, out_w))
        grad_input = _col2im_reference(grad_cols, x.shape, stride, padding, dilation)
    if has_bias:
        grad_bias = grad_out.sum(axis=(0, 2, 3))
    return grad_input, grad_weight, grad_bias


# ----------------------------------------------------------------------------------------------
# Numba kernels
# ----------------------------------------------------------------------------------------------
# np.dot(a, b, out) inside Numba needs a and b typed 'C' or 'F' and out typed 'C', else it
# copies (and an 'A' out would receive the result in a copy that is thrown away). Below,
# every operand is a first-axis slice of a C-contiguous array (x[n], cols[r0:r1], which stay
# 'C') or its transpose ('F'); never a slice like a[r0:r1, :], which Numba types 'A'.

@jit
def _valid_outputs(out_size, in_size, offset, step):
    """The range [lo, hi) of output positions p whose input position p*step + offset lies
    inside [0, in_size); the others read the zero padding. Uses ceil(a/b) = (a + b - 1) // b."""
    lo = 0 if offset >= 0 else (step - 1 - offset) // step
    hi = (in_size - offset + step - 1) // step
    lo = min(lo, out_size)
    hi = max(lo, min(hi, out_size))
    return lo, hi


# Index arithmetic in the copy loops: Numba accepts negative indices (a[-1]), so every signed
# integer index gets a "wrap around if < 0" select, which leaves the loop scalar (im2col of
# (64, 32, 16, 16) took 6.4 ms this way). np.uintp indices skip that check: the same loops on
# flat views then run at 1.4 ms, near a plain copy of that many bytes. Every index below is
# non-negative by construction (_valid_outputs keeps positions inside the input).

@jit
def _im2col_image(x_image, kh, kw, stride, padding, dilation, out_h, out_w, cols):
    """cols[(c kh + i) kw + j, a Wo + b] = x_padded[c, a sh + i dh, b sw + j dw] for one image.

    x_image (C, H, W); cols (C kh kw, Ho Wo), overwritten (zeros where the tap meets padding).
    """
    channels, height, width = x_image.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    x_flat = x_image.reshape(x_image.size)    # (C H W,)
    cols_flat = cols.reshape(cols.size)       # (C kh kw Ho Wo,)
    for c in range(channels):
        for i in range(kh):
            a_lo, a_hi = _valid_outputs(out_h, height, i * dh - ph, sh)
            for j in range(kw):
                b_lo, b_hi = _valid_outputs(out_w, width, j * dw - pw, sw)
                row_start = ((c * kh + i) * kw + j) * out_h * out_w
                for a in range(out_h):
                    start = row_start + a * out_w             # flat index of cols[row, a Wo]
                    if a < a_lo or a >= a_hi:                 # this output row reads padding
                        for b in range(out_w):
                            cols_flat[np.uintp(start + b)] = 0
                        continue
                    for b in range(b_lo):
                        cols_flat[np.uintp(start + b)] = 0
                    for b in range(b_hi, out_w):
                        cols_flat[np.uintp(start + b)] = 0
                    # flat index of x[c, a sh + i dh - ph, b sw + j dw - pw] at b = 0 (may be
                    # negative; the loop adds b sw >= 0 from b_lo on)
                    source = (c * height + a * sh + i * dh - ph) * width + j * dw - pw
                    if sw == 1:  # a contiguous copy, which LLVM vectorises
                        for b in range(b_lo, b_hi):
                            cols_flat[np.uintp(start + b)] = x_flat[np.uintp(source + b)]
                    else:
                        for b in range(b_lo, b_hi):
                            cols_flat[np.uintp(start + b)] = x_flat[np.uintp(source + b * sw)]


@jit
def _col2im_image(cols, kh, kw, stride, padding, dilation, out_h, out_w, grad_image):
    """The adjoint of _im2col_image: grad_image[c, y, x] += every cols entry read from (c, y, x).

    cols (C kh kw, Ho Wo); grad_image (C, H, W), added to (the caller zeroes it).
    """
    channels, height, width = grad_image.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    grad_flat = grad_image.reshape(grad_image.size)   # (C H W,)
    cols_flat = cols.reshape(cols.size)               # (C kh kw Ho Wo,)
    for c in range(channels):
        for i in range(kh):
            a_lo, a_hi = _valid_outputs(out_h, height, i * dh - ph, sh)
            for j in range(kw):
                b_lo, b_hi = _valid_outputs(out_w, width, j * dw - pw, sw)
                row_start = ((c * kh + i) * kw + j) * out_h * out_w
                for a in range(a_lo, a_hi):                   # entries from padding are dropped
                    start = row_start + a * out_w
                    target = (c * height + a * sh + i * dh - ph) * width + j * dw - pw
                    if sw == 1:
                        for b in range(b_lo, b_hi):
                            grad_flat[np.uintp(target + b)] += cols_flat[np.uintp(start + b)]
                    else:
                        for b in range(b_lo, b_hi):
                            grad_flat[np.uintp(target + b * sw)] += cols_flat[np.uintp(start + b)]


@jit
def _conv_forward_images(x, weight, bias, has_bias, stride, padding, dilation, groups, y,
                         image_start, image_stop):
    """y[n] = conv2d(x[n], weight) (+ bias) for images image_start:image_stop; the serial kernel.

    x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,) (read only when has_bias),
    y (N, O, Ho, Wo) output; all C-contiguous.
    """
    out_channels, in_per_group, kh, kw = weight.shape
    out_h, out_w = y.shape[2], y.shape[3]
    out_per_group = out_channels // groups
    k = in_per_group * kh * kw
    weight_matrices = weight.reshape((groups, out_per_group, k))
    cols = np.empty((groups * k, out_h * out_w), dtype=x.dtype)  # reused for every image
    for n in range(image_start, image_stop):
        _im2col_image(x[n], kh, kw, stride, padding, dilation, out_h, out_w, cols)
        y_image = y[n].reshape((out_channels, out_h * out_w))
        for g in range(groups):
            np.dot(weight_matrices[g], cols[g * k:(g + 1) * k],
                   y_image[g * out_per_group:(g + 1) * out_per_group])
        if has_bias:  # added while this image's output is still in cache
            for o in range(out_channels):
                for p in range(out_h * out_w):
                    y_image[o, p] += bias[o]


@jit_parallel
def _conv_forward_parallel(x, weight, bias, has_bias, stride, padding, dilation, groups, y,
                           threads):
    """_conv_forward_images with one block of images per thread (threads >= 1)."""
    n = x.shape[0]
    blocks = min(threads, n)
    for block in prange(blocks):
        _conv_forward_images(x, weight, bias, has_bias, stride, padding, dilation, groups, y,
                             block * n // blocks, (block + 1) * n // blocks)


@jit
def _conv_backward_images(grad_out, x, weight, stride, padding, dilation, groups,
                          needs_input_grad, needs_weight_grad, has_bias,
                          image_start, image_stop, grad_input, grad_weight_t, bias_sums):
    """Backward for images image_start:image_stop, one image at a time.

    grad_out (N, O, Ho, Wo), x (N, C, H, W), weight (O, C/G, kh, kw), all C-contiguous.
    Outputs, each touched only when its flag is set:
      grad_input (N, C, H, W): images image_start:image_stop ADDED to (the caller zeroes it);
      grad_weight_t (G, K, O/G): overwritten with these images' sum of grad_weight, transposed
        per group (the layout its product comes out of BLAS fastest, see below);
      bias_sums (O,) float64: overwritten with these images' sums of grad_out per channel.
    """
    out_channels, in_per_group, kh, kw = weight.shape
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    out_per_group = out_channels // groups
    k = in_per_group * kh * kw
    weight_matrices = weight.reshape((groups, out_per_group, k))
    cols = np.empty((groups * k, out_h * out_w), dtype=x.dtype)
    image_grad_weight_t = np.empty((k, out_per_group), dtype=x.dtype)
    grad_weight_t[:] = 0
    bias_sums[:] = 0.0
    for n in range(image_start, image_stop):
        grad_out_image = grad_out[n].reshape((out_channels, out_h * out_w))
        if needs_weight_grad:
            _im2col_image(x[n], kh, kw, stride, padding, dilation, out_h, out_w, cols)
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
                total = 0.0
                for p in range(out_h * out_w):
                    total += grad_out_image[o, p]
                bias_sums[o] += total
        if needs_input_grad:
            # cols is free again: it now receives grad_cols_g = W_g^T @ grad_out_g
            for g in range(groups):
                np.dot(weight_matrices[g].T,
                       grad_out_image[g * out_per_group:(g + 1) * out_per_group],
                       cols[g * k:(g + 1) * k])
            _col2im_image(cols, kh, kw, stride, padding, dilation, out_h, out_w, grad_input[n])


@jit
def _weight_partials(blocks, weight, groups, needs_weight_grad):
    """Uninitialised per-block slots (blocks, G, K, O/G) for grad_weight (K = C/G kh kw);
    zero-sized in K when grad_weight is not requested."""
    out_channels, in_per_group, kh, kw = weight.shape
    k = in_per_group * kh * kw if needs_weight_grad else 0
    return np.empty((blocks, groups, k, out_channels // groups), dtype=weight.dtype)


@jit
def _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums):
    """Add up the per-block partial sums, serially, in a fixed order.

    weight_partials (B, G, K, O/G) -> grad_weight (O, C/G, kh, kw) (transposed back per group);
    bias_partials (B, O) -> bias_sums (O,), both float64. Empty outputs are left alone.
    """
    blocks, groups, k, out_per_group = weight_partials.shape
    if grad_weight.size > 0:
        grad_weight_matrices = grad_weight.reshape((groups, out_per_group, k))
        for g in range(groups):
            for o in range(out_per_group):
                for r in range(k):
                    total = weight_partials[0, g, r, o]
                    for block in range(1, blocks):
                        total += weight_partials[block, g, r, o]
                    grad_weight_matrices[g, o, r] = total
    for o in range(bias_sums.shape[0]):
        total = 0.0
        for block in range(blocks):
            total += bias_partials[block, o]
        bias_sums[o] = total


@jit
def _conv_backward_serial(grad_out, x, weight, stride, padding, dilation, groups,
                          needs_input_grad, needs_weight_grad, has_bias,
                          grad_input, grad_weight, bias_sums):
    """The whole batch as one block. Shapes as in _conv_backward_images; grad_weight
    (O, C/G, kh, kw), or empty when not requested."""
    blocks = 1
    weight_partials = _weight_partials(blocks, weight, groups, needs_weight_grad)
    bias_partials = np.empty((blocks, bias_sums.shape[0]))
    _conv_backward_images(grad_out, x, weight, stride, padding, dilation, groups,
                          needs_input_grad, needs_weight_grad, has_bias, 0, x.shape[0],
                          grad_input, weight_partials[0], bias_partials[0])
    _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums)


@jit_parallel
def _conv_backward_parallel(grad_out, x, weight, stride, padding, dilation, groups,
                            needs_input_grad, needs_weight_grad, has_bias,
                            grad_input, grad_weight, bias_sums, threads):
    """_conv_backward_serial with one block of images per thread (threads >= 1).

    Each block sums grad_weight and grad_bias into its own partial; the partials are added
    up serially afterwards (no block writes a shared slot).
    """
    n = x.shape[0]
    blocks = min(threads, n)
    weight_partials = _weight_partials(blocks, weight, groups, needs_weight_grad)
    bias_partials = np.empty((blocks, bias_sums.shape[0]))
    for block in prange(blocks):
        _conv_backward_images(grad_out, x, weight, stride, padding, dilation, groups,
                              needs_input_grad, needs_weight_grad, has_bias,
                              block * n // blocks, (block + 1) * n // blocks,
                              grad_input, weight_partials[block], bias_partials[block])
    _sum_partials(weight_partials, bias_partials, grad_weight, bias_sums)


def _c_contiguous(array):
    """array as a C-contiguous, writeable array (a copy only when needed). Read-only arrays
    would compile the kernels once more (Numba types them separately)."""
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


def _geometry(stride, padding, dilation, groups):
    """The caller's pairs as tuples of Python ints (one Numba signature whatever int type)."""
    return (tuple(int(v) for v in stride), tuple(int(v) for v in padding),
            tuple(int(v) for v in dilation), int(groups))


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
    stride, padding, dilation, groups = _geometry(stride, padding, dilation, groups)
    n, _, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = conv2d_output_size(height, width, (kh, kw), stride, padding, dilation)
    y = np.empty((n, out_channels, out_h, out_w), dtype=x.dtype)
    args = (x, weight, bias, has_bias, stride, padding, dilation, groups, y)
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
    stride, padding, dilation, groups = _geometry(stride, padding, dilation, groups)
    dtype = x.dtype
    n, out_h, out_w = x.shape[0], grad_out.shape[2], grad_out.shape[3]
    # Outputs that are not requested are empty arrays the kernel never touches (one compile).
    grad_input = np.zeros(x.shape if needs_input_grad else (0, 0, 0, 0), dtype=dtype)
    grad_weight = np.empty(weight.shape if needs_weight_grad else (0, 0, 0, 0), dtype=dtype)
    bias_sums = np.empty(weight.shape[0] if has_bias else 0, dtype=np.float64)
    args = (grad_out, x, weight, stride, padding, dilation, groups,
            bool(needs_input_grad), bool(needs_weight_grad), bool(has_bias))
    if _use_parallel(n, weight, out_h, out_w):
        _conv_backward_parallel(*args, grad_input, grad_weight, bias_sums, get_num_threads())
    else:
        _conv_backward_serial(*args, grad_input, grad_weight, bias_sums)
    return (grad_input if needs_input_grad else None,
            grad_weight if needs_weight_grad else None,
            bias_sums.astype(dtype) if has_bias else None)


KERNELS = {
    "conv2d_forward": (conv2d_forward_reference, conv2d_forward_numba),
    "conv2d_backward": (conv2d_backward_reference, conv2d_backward_numba),
}

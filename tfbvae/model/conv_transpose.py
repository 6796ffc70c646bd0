"""A 4x4, stride-2 transposed convolution with few output channels, fast on CPUs.

oneDNN's kernel for a transposed convolution with 1 or 3 output channels (a decoder's last
layer) runs at a small fraction of the CPU's float32 peak, no faster than the same layer with
many more outputs (benchmarks/README.md has the measurements). This layer computes the same
function as ``keras.layers.Conv2DTranspose`` with the same weights and config, faster: with one
output channel as one matrix product followed by a sum of shifted planes; with more, as a
sub-pixel convolution (one 3x3 convolution to 4 * C_out channels and ``depth_to_space``), which
avoids transposing channel-major planes back to NHWC. TensorFlow's own convolutions stay the
gradient (they are not slow here). Only the forward pass changes, so training and the exported
decoder both gain.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# Output row 2i + a of a 4-tap, stride-2 transposed convolution padded "same" (1 on each side)
# receives input row i + d through kernel row k: for a = 0, (d, k) = (0, 1) and (-1, 3); for
# a = 1, (1, 0) and (0, 2). The same holds for columns.
_TAPS = {0: ((0, 1), (-1, 3)), 1: ((1, 0), (0, 2))}


def _subpixel(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """The same transposed convolution as one 3x3 stride-1 convolution to 4 * C_out channels
    and ``depth_to_space(2)``: for each output phase (a, b), its four taps at their input
    offsets (``_TAPS``), zeros elsewhere."""
    c_out, c_in = kernel.shape[2], kernel.shape[3]
    zeros = tf.zeros((c_out, c_in), kernel.dtype)
    taps = [dict(_TAPS[a]) for a in (0, 1)]  # input offset -> kernel row (or column)
    rows = []
    for dr in (-1, 0, 1):
        cols = []
        for dc in (-1, 0, 1):
            phases = [  # (a, b) in depth_to_space's channel order, each (C_out, C_in)
                kernel[taps[a][dr], taps[b][dc]] if dr in taps[a] and dc in taps[b] else zeros
                for a in (0, 1) for b in (0, 1)
            ]
            cols.append(tf.reshape(tf.transpose(tf.stack(phases), (2, 0, 1)), (c_in, 4 * c_out)))
        rows.append(tf.stack(cols))
    return tf.nn.depth_to_space(tf.nn.conv2d(x, tf.stack(rows), 1, "SAME"), 2)


def phase_conv_transpose(x: tf.Tensor, kernel: tf.Tensor, subpixel: bool | None = None
                         ) -> tf.Tensor:
    """``conv2d_transpose(x, kernel, strides=2, padding="SAME")`` for 4x4 kernels, NHWC.

    ``x`` is (B, H, W, C_in), ``kernel`` (4, 4, C_out, C_in) as ``tf.nn.conv2d_transpose``
    takes it; returns (B, 2H, 2W, C_out). With one output channel, each of the 16 taps is one
    row block of a single matrix product over all pixels, and each of the 4 output phases (row
    and column parity) sums the 4 taps that reach it, shifted by at most one pixel; with more
    (or ``subpixel=True``, which benchmarks measure), the sub-pixel form :func:`_subpixel`.
    """

    @tf.custom_gradient
    def forward(x, kernel):
        h, w, c_in = x.shape[1], x.shape[2], x.shape[3]
        c_out = kernel.shape[2]
        batch = tf.shape(x)[0]

        def grad(dy):
            # The transposed convolution's own gradient: a strided convolution for the input,
            # and the filter gradient with the roles of input and output swapped.
            dx = tf.nn.conv2d(dy, kernel, strides=2, padding="SAME")
            dkernel = tf.compat.v1.nn.conv2d_backprop_filter(
                dy, tf.shape(kernel), x, strides=[1, 2, 2, 1], padding="SAME")
            return dx, dkernel

        # With C_out > 1, channel-major planes would need a transpose to NHWC costing more than
        # the split saves (benchmarks/README.md).
        if subpixel or (subpixel is None and c_out > 1):
            return _subpixel(x, kernel), grad
        taps = tf.reshape(kernel, (16 * c_out, c_in))  # rows ordered (k_row, k_col, c_out)
        # (16 * C_out, B*H*W): every tap's contribution is a contiguous plane.
        planes = tf.matmul(taps, tf.reshape(x, (-1, c_in)), transpose_b=True)
        planes = tf.reshape(planes, (4, 4, c_out, batch, h, w))
        planes = tf.pad(planes, [[0, 0]] * 4 + [[1, 1], [1, 1]])
        rows = []
        for a in (0, 1):
            phases = []
            for b in (0, 1):
                phases.append(tf.add_n([
                    planes[kr, kc, :, :, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]
                    for dr, kr in _TAPS[a] for dc, kc in _TAPS[b]
                ]))  # (C_out, B, H, W)
            rows.append(tf.stack(phases, axis=-1))  # (C_out, B, H, W, 2)
        y = tf.stack(rows, axis=3)  # (C_out, B, H, 2, W, 2)
        return tf.reshape(y, (batch, 2 * h, 2 * w, 1)), grad

    return forward(x, kernel)


@keras.saving.register_keras_serializable(package="tfbvae")
class PhaseConv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with a faster forward pass for 4x4, stride-2, "same".

    Same weights and results (to float32 round-off). ``phase_split=False`` (or setting the
    attribute before the layer is first traced) uses the parent's computation, as do other
    settings and machines with a GPU, where the library's kernel is not known to be slow.
    """

    def __init__(self, *args, phase_split: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase_split = phase_split

    def build(self, input_shape):
        super().build(input_shape)
        self._phase_split_applies = (
            tuple(self.kernel_size) == (4, 4)
            and tuple(self.strides) == (2, 2)
            and self.padding == "same"
            and self.output_padding is None
            and tuple(self.dilation_rate) == (1, 1)
            and self.data_format == "channels_last"
            and None not in tuple(input_shape[1:])
            and not tf.config.list_logical_devices("GPU")
        )

    def call(self, inputs):
        if not (self.phase_split and self._phase_split_applies):
            return super().call(inputs)
        # Keras' kernel is (4, 4, C_out, C_in), the layout tf.nn.conv2d_transpose takes.
        outputs = phase_conv_transpose(inputs, tf.convert_to_tensor(self.kernel))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "phase_split": self.phase_split}

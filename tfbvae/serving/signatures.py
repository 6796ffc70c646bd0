"""Serving graphs of a trained BetaVAE: ``tf.Module``s whose ``tf.function``s become signatures.

Only inference is traced: the posterior mean and log-variance, the decoder's logits and the
likelihood's mean image. No sampling noise, optimizer or metric enters the graph, and the
SavedModels that :mod:`tfbvae.serving.export` writes load with TensorFlow alone (no Keras, no tfbvae).

Every signature checks its input inside the graph, before the network sees it, so that
TensorFlow Serving (which feeds tensors of any shape to a signature) answers a bad request with
an error naming the input, the expected shape and what it got, instead of a convolution error.
"""

from __future__ import annotations

import tensorflow as tf

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.pixels import UNIT_RANGE_RULE
from tfbvae.serving.image_bytes import decode_image_bytes

# What each signature does: stored in the export's metadata and listed in the README.
ENCODER_SIGNATURES = {
    "serving_default": "images float32 [batch, H, W, C] in [0, 1] -> posterior mean, log_var, "
    "stddev [batch, latent_dim]",
    "encode_image_bytes": "image_bytes string [batch] (PNG/JPEG/BMP/GIF files; base64 "
    '{"b64": ...} over REST) -> prepared as the training data (C channels, centre crop, BOX '
    "resize to H x W, as tfbvae.data.images.preprocess), then as serving_default",
}
DECODER_SIGNATURES = {
    "serving_default": "z float32 [batch, latent_dim] -> images [batch, H, W, C] in [0, 1] "
    "(Bernoulli probabilities or Gaussian means) and logits",
    "reconstruct": "images float32 [batch, H, W, C] in [0, 1] -> reconstructions (decoded "
    "posterior mean) and logits [batch, H, W, C], mean and log_var [batch, latent_dim]",
}


def _traced(spec: tf.TensorSpec):
    """``tf.function`` with the input signature ``[spec]``, traced without AutoGraph.

    The serving code has no Python control flow on tensors (``tf.cond`` and ``tf.map_fn`` are
    written out), so AutoGraph's rewriting of its source (and of the Keras layers' it calls)
    buys nothing, and it was half of an export's time (5.8-7.0 s without against 13.7-15.6 s
    with it, measured on the 2-core VM under load).
    """
    return tf.function(input_signature=[spec], autograph=False)


def _shape_text(tensor: tf.Tensor) -> tf.Tensor:
    """The runtime shape as a string ``"2,64,64,1"`` (``""`` for a scalar).

    Checked with a regular expression because that works for any rank: comparing shape
    vectors of different lengths would fail with a broadcasting error instead of our message,
    and ``tf.rank``/``tf.size`` are folded to the traced (static) rank, which a server's
    feed does not have to honour.
    """
    return tf.strings.reduce_join(tf.strings.as_string(tf.shape(tensor)), separator=",")


def _require_shape(tensor: tf.Tensor, pattern: str, message: str) -> tf.Operation:
    """Asserts that the runtime shape matches ``pattern`` (regex over ``"2,64,64,1"``)."""
    shape = _shape_text(tensor)
    return tf.debugging.Assert(
        tf.strings.regex_full_match(shape, pattern),
        [tf.strings.join([message, "; got shape [", shape, "]"])],
    )


def checked_images(images: tf.Tensor, image_shape: tuple[int, int, int]) -> tf.Tensor:
    """``images`` once its shape is ``[batch, H, W, C]`` and its values are in [0, 1]."""
    h, w, c = image_shape
    expected = f"images must be a float32 batch shaped [batch, {h}, {w}, {c}]"
    with tf.control_dependencies([_require_shape(images, rf"[0-9]+,{h},{w},{c}", expected)]):
        values = tf.reshape(images, [-1])  # once the shape is right: reductions see one axis
    # NaN fails both comparisons, so it is reported too.
    in_range = tf.reduce_all(tf.logical_and(values >= 0.0, values <= 1.0))
    range_ok = tf.debugging.Assert(
        in_range,
        [
            f"{UNIT_RANGE_RULE}; got values from",
            tf.reduce_min(values),
            "to",
            tf.reduce_max(values),
        ],
    )
    with tf.control_dependencies([range_ok]):
        return tf.identity(images)


def checked_latents(z: tf.Tensor, latent_dim: int) -> tf.Tensor:
    """``z`` once its shape is ``[batch, latent_dim]`` and its values are finite."""
    shape_ok = _require_shape(
        z, rf"[0-9]+,{latent_dim}", f"z must be a float32 batch shaped [batch, {latent_dim}]"
    )
    with tf.control_dependencies([shape_ok]):
        values = tf.reshape(z, [-1])
    finite = tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(values)), ["z must be finite (no NaN or Inf)"]
    )
    with tf.control_dependencies([finite]):
        return tf.identity(z)


def unless_empty(batch: tf.Tensor, compute, shapes: dict) -> dict:
    """``compute()``, or empty float32 outputs (``{name: per-example shape}``) for a batch of 0.

    oneDNN's fused convolutions (on when tfbvae is imported, and in TensorFlow builds that
    enable them) return a wrong-depth result for an empty batch, which the next layer rejects
    ("input depth must be evenly divisible by filter depth"); an empty request must get an
    empty answer.
    """
    return tf.cond(
        tf.shape(batch)[0] > 0,
        compute,
        lambda: {name: tf.zeros((0,) + tuple(shape), tf.float32) for name, shape in shapes.items()},
    )


def _with_variables(module: tf.Module, signatures: dict) -> tf.Module:
    """Attaches the signatures and the TensorFlow variables they read to ``module``.

    The variables tracked are the ``tf.Variable``s captured by the traced functions, not the
    Keras model or its variable wrappers: with the wrappers, the SavedModel loads in TF2 but
    the session-based loader of TensorFlow Serving and ``saved_model_cli run`` fails with
    "Could not find variable ...". The Keras model itself stays out of the SavedModel.
    """
    captured = {}
    for name, fn in signatures.items():
        setattr(module, name, fn)
        for variable in fn.get_concrete_function().variables:
            captured[id(variable)] = variable
    module.model_variables = list(captured.values())
    return module


def encoder_module(
    model: BetaVAE, crop: tuple[int, int] | None = None
) -> tuple[tf.Module, dict]:
    """The encoder's serving module and its signatures (``ENCODER_SIGNATURES``)."""
    image_shape = model.image_shape
    h, w, c = image_shape
    latent_dim = int(model.latent_dim)
    module = tf.Module(name="tfbvae_encoder")

    def posterior(images):
        images = checked_images(images, image_shape)

        def compute():
            mean, log_var = model.encode(images)
            return {"mean": mean, "log_var": log_var, "stddev": tf.exp(0.5 * log_var)}

        z = (latent_dim,)
        return unless_empty(images, compute, {"mean": z, "log_var": z, "stddev": z})

    @_traced(tf.TensorSpec([None, h, w, c], tf.float32, name="images"))
    def serving_default(images):
        return posterior(images)

    @_traced(tf.TensorSpec([None], tf.string, name="image_bytes"))
    def encode_image_bytes(image_bytes):
        is_batch = _require_shape(
            image_bytes,
            r"[0-9]+",
            "image_bytes must be a 1-D batch of encoded image files (string [batch])",
        )
        with tf.control_dependencies([is_batch]):
            image_bytes = tf.identity(image_bytes)
        images = tf.map_fn(
            lambda b: decode_image_bytes(b, image_shape, crop),
            image_bytes,
            fn_output_signature=tf.TensorSpec([h, w, c], tf.float32),
        )
        return posterior(images)

    signatures = {"serving_default": serving_default, "encode_image_bytes": encode_image_bytes}
    return _with_variables(module, signatures), signatures


def decoder_module(model: BetaVAE) -> tuple[tf.Module, dict]:
    """The decoder's serving module and its signatures (``DECODER_SIGNATURES``).

    ``reconstruct`` lives here (it needs the encoder's variables too): a decoder version is a
    complete image -> image model, which is what a reconstruction client wants to address.
    """
    image_shape = model.image_shape
    h, w, c = image_shape
    latent_dim = int(model.latent_dim)
    module = tf.Module(name="tfbvae_decoder")

    @_traced(tf.TensorSpec([None, latent_dim], tf.float32, name="z"))
    def serving_default(z):
        z = checked_latents(z, latent_dim)

        def compute():
            logits = model.decode(z)
            return {"images": model.likelihood.mean(logits), "logits": logits}

        return unless_empty(z, compute, {"images": image_shape, "logits": image_shape})

    @_traced(tf.TensorSpec([None, h, w, c], tf.float32, name="images"))
    def reconstruct(images):
        images = checked_images(images, image_shape)

        def compute():
            mean, log_var = model.encode(images)
            logits = model.decode(mean)
            return {
                "reconstructions": model.likelihood.mean(logits),
                "logits": logits,
                "mean": mean,
                "log_var": log_var,
            }

        shapes = {"reconstructions": image_shape, "logits": image_shape}
        return unless_empty(images, compute, {**shapes, "mean": (latent_dim,), "log_var": (latent_dim,)})

    signatures = {"serving_default": serving_default, "reconstruct": reconstruct}
    return _with_variables(module, signatures), signatures


def describe_signatures(signatures: dict, docs: dict) -> dict:
    """``{name: {"doc", "inputs": {name: {dtype, shape}}, "outputs": {...}}}`` (-1: any size)."""

    def spec(s) -> dict:
        return {"dtype": s.dtype.name, "shape": [-1 if d is None else int(d) for d in s.shape]}

    described = {}
    for name, fn in signatures.items():
        concrete = fn.get_concrete_function()
        described[name] = {
            "doc": docs[name],
            "inputs": {s.name: spec(s) for s in concrete.structured_input_signature[0]},
            "outputs": {k: spec(v) for k, v in sorted(concrete.structured_outputs.items())},
        }
    return described

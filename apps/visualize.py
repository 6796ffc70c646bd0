"""Draws a trained beta-VAE: latent traversals (PNG and animated GIF), reconstructions, samples
from the prior, and each latent dimension's KL over training.

    python apps/visualize.py --model=runs/dsprites_capacity
    python apps/visualize.py --model=exported_models/dsprites_capacity --what=traversals,gif

``--model`` is what ``apps/evaluate.py`` takes: a run directory or an exported model (a
SavedModel version directory, ``<base>/<name>/encoder`` or ``<base>/<name>``; the decoder of the
same version is found beside the encoder). Traversal rows and GIF columns are the latent
dimensions ordered by KL, labelled with it (and, for a data set with ground-truth factors, the
factor each encodes most, by normalised mutual information): the KL from the run's TensorBoard logs at the checkpoint's
step, or the export's metadata, or else measured on the pictured images. ``kl_curves`` plots
the KL of each dimension over training from the run's TensorBoard logs (for an export: the logs
of the run it came from, when that directory is still there); without logs it draws the final
KL per dimension as a bar chart (``kl_per_dim.png``). Input images come from the model's own data set
(named in its run record; its run's data flags unless others are given), chosen with
``--seed`` among the images the run held out, or from ``--dataset``, or ``--images`` (a .npy of
images ``(n, H, W, C)``, uint8 or float in [0, 1]).
Writes PNGs, ``traversals.gif`` and ``pictures.json`` (what was drawn, from which model, the KL
and its source; paths inside this repository relative to it) to ``--output_dir``.

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2 bad
input (a wrong or missing flag, a path that is no model, a run without a checkpoint or with a
damaged ``run.json``, ``--images`` or a data set that do not fit the model, data not available as asked);
1 failure. Flags are checked before TensorFlow is imported.
"""

from __future__ import annotations

import os

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags

from tfbvae.cli import app_runner
from tfbvae.cli import data_flags, model_flags
from tfbvae.evaluation.model_pictures import PICTURES


FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
model_flags.define_model_flags(FLAGS)
flags.DEFINE_string("output_dir", None, "Where the pictures go (default <run_dir>/pictures for a run, pictures/<name>_v<version> for an export).", flag_values=FLAGS)
flags.DEFINE_list("what", list(PICTURES), f"Pictures to draw: some of {', '.join(PICTURES)}.", flag_values=FLAGS)
flags.DEFINE_string("images", None, "A .npy of input images (n, H, W, C), uint8 0..255 or float in [0, 1]; default: images of --dataset (the model's own: images its run held out).", flag_values=FLAGS)
data_flags.define_data_flags(FLAGS, "input images when --images is not given")
flags.DEFINE_integer("num_images", 8, "Input images shown as reconstructions (the first one is traversed).", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer("gif_images", 3, "Input images (rows) of the animated traversal.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_float("span", 3.0, "Traversals move each latent from mean - span to mean + span.", lower_bound=0.0, flag_values=FLAGS)
flags.DEFINE_integer("steps", 9, "Values per traversal (columns of the PNG; the GIF plays them there and back).", lower_bound=2, flag_values=FLAGS)
flags.DEFINE_integer("num_samples", 32, "Images decoded from prior samples z ~ N(0, I).", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer("frame_ms", 120, "Milliseconds per GIF frame.", lower_bound=10, flag_values=FLAGS)
flags.DEFINE_boolean("label_factors", True, "Label each traversal row with the factor its latent encodes most (normalised mutual information, as MIG) when the images come from a data set with ground-truth factors (not --images).", flag_values=FLAGS)
flags.DEFINE_integer("factor_samples", 10000, "Images encoded to name the factor of each latent.", lower_bound=100, flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of the chosen images and the prior samples.", flag_values=FLAGS)
flags.register_validator(
    "what", lambda v: bool(v) and set(v) <= set(PICTURES),
    message=f"--what takes a comma-separated subset of {', '.join(PICTURES)}.", flag_values=FLAGS)
flags.register_validator(
    "images", lambda v: v is None or (v.endswith(".npy") and os.path.isfile(v)),
    message="--images must be an existing .npy file of images shaped (n, H, W, C).", flag_values=FLAGS)


def default_output_dir(source) -> str:
    """``<run_dir>/pictures`` for a run; ``pictures/<name>_v<version>`` for an export."""
    from tfbvae.training import run_dir as run_layout

    name = source.model_name or source.path.name
    return run_layout.output_dir(run_layout.PICTURES, source.kind, source.path, name, source.version)


def _main(argv: list[str]) -> int:
    """Draws the pictures of the model the flags name and writes them; refusals reach the user
    through :mod:`tfbvae.cli.app_runner`."""
    from tfbvae.evaluation.model_pictures import draw_model

    pictures = draw_model(_settings_from_flags())
    written = pictures.write(FLAGS.output_dir or default_output_dir(pictures.source))
    for note in pictures.notes:
        print(f"NOTE: {note}")
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def _settings_from_flags():
    """The pictures the flags ask for."""
    from tfbvae.evaluation.model_data import DataChoice
    from tfbvae.evaluation.model_pictures import PictureSettings

    return PictureSettings(
        model=FLAGS.model, checkpoint=FLAGS.checkpoint, what=tuple(FLAGS.what),
        images=FLAGS.images, data=DataChoice.from_flags(FLAGS),
        num_images=FLAGS.num_images, gif_images=FLAGS.gif_images, span=FLAGS.span,
        steps=FLAGS.steps, num_samples=FLAGS.num_samples, frame_ms=FLAGS.frame_ms,
        label_factors=FLAGS.label_factors, factor_samples=FLAGS.factor_samples, seed=FLAGS.seed)



main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS)

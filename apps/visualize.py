"""Draws a trained beta-VAE: latent traversals (PNG and animated GIF), reconstructions, samples
from the prior, and each latent dimension's KL over training.

    python apps/visualize.py --model=runs/dsprites_capacity
    python apps/visualize.py --model=exported_models/dsprites_capacity --what=traversals,gif

``--model`` is what ``apps/evaluate.py`` takes: a run directory or an exported model (a
SavedModel version directory, ``<base>/<name>/encoder`` or ``<base>/<name>``; the decoder of the
same version is found beside the encoder). Traversal rows and GIF columns are the latent
dimensions ordered by KL, labelled with it (and, for dSprites models, the factor each encodes
most, by normalised mutual information): the KL from the run's TensorBoard logs at the checkpoint's
step, or the export's metadata, or else measured on the pictured images. ``kl_curves`` plots
the KL of each dimension over training from the run's TensorBoard logs (for an export: the logs
of the run it came from, when that directory is still there); without logs it draws the final
KL per dimension as a bar chart (``kl_per_dim.png``). Input images are dSprites samples, or
``--images`` (a .npy of images ``(n, H, W, C)``, uint8 or float in [0, 1]) for other data.
Writes PNGs, ``traversals.gif`` and ``pictures.json`` (what was drawn, from which model, the KL
and its source; paths inside this repository relative to it) to ``--output_dir``.

Exit status (a refusal is one ``ERROR:`` line naming the problem and the fix): 0 done; 2 bad
input (a wrong or missing flag, a path that is no model, a run without a checkpoint or with a
damaged ``run.json``, ``--images`` that do not fit the model, dSprites not available as asked);
1 failure. Flags are checked before TensorFlow is imported.
"""

from __future__ import annotations

import os

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TensorFlow is imported)
from absl import flags

from tfbvae import errors
from tfbvae.cli import app_runner
from tfbvae.cli import model_flags
from tfbvae.data.dsprites.sources import SOURCES as DSPRITES_SOURCES

PICTURES = ("traversals", "gif", "reconstructions", "samples", "kl_curves")

FLAGS = flags.FlagValues()  # the app's own flags: importing the app defines nothing global
model_flags.define_model_flags(FLAGS)
flags.DEFINE_string("output_dir", None, "Where the pictures go (default <run_dir>/pictures for a run, pictures/<name>_v<version> for an export).", flag_values=FLAGS)
flags.DEFINE_list("what", list(PICTURES), f"Pictures to draw: some of {', '.join(PICTURES)}.", flag_values=FLAGS)
flags.DEFINE_string("images", None, "A .npy of input images (n, H, W, C), uint8 0..255 or float in [0, 1]; default: dSprites samples.", flag_values=FLAGS)
flags.DEFINE_enum("dsprites_source", "auto", ("auto",) + DSPRITES_SOURCES, "dSprites images when --images is not given (auto: the official .npz when found, else rendered).", flag_values=FLAGS)
flags.DEFINE_string("data_path", None, "The official dSprites .npz.", flag_values=FLAGS)
flags.DEFINE_integer("num_images", 8, "Input images shown as reconstructions (the first one is traversed).", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer("gif_images", 3, "Input images (rows) of the animated traversal.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_float("span", 3.0, "Traversals move each latent from mean - span to mean + span.", lower_bound=0.0, flag_values=FLAGS)
flags.DEFINE_integer("steps", 9, "Values per traversal (columns of the PNG; the GIF plays them there and back).", lower_bound=2, flag_values=FLAGS)
flags.DEFINE_integer("num_samples", 32, "Images decoded from prior samples z ~ N(0, I).", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer("frame_ms", 120, "Milliseconds per GIF frame.", lower_bound=10, flag_values=FLAGS)
flags.DEFINE_boolean("label_factors", True, "Label each traversal row with the dSprites factor its latent encodes most (normalised mutual information, as MIG) when the model is a dSprites model and --images is not given.", flag_values=FLAGS)
flags.DEFINE_integer("factor_samples", 10000, "dSprites images encoded to name the factor of each latent.", lower_bound=100, flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "Seed of the chosen dSprites images and the prior samples.", flag_values=FLAGS)
flags.register_validator(
    "what", lambda v: bool(v) and set(v) <= set(PICTURES),
    message=f"--what takes a comma-separated subset of {', '.join(PICTURES)}.", flag_values=FLAGS)
flags.register_validator(
    "images", lambda v: v is None or (v.endswith(".npy") and os.path.isfile(v)),
    message="--images must be an existing .npy file of images shaped (n, H, W, C).", flag_values=FLAGS)


def default_output_dir(source) -> str:
    """``<run_dir>/pictures`` for a run; ``pictures/<name>_v<version>`` for an export."""
    from tfbvae.training import run_dir as run_layout

    name = source.metadata.get("model_name") or source.path.name
    return run_layout.output_dir(run_layout.PICTURES, source.kind, source.path, name, source.version)


def input_images(source, count: int):
    """``count`` images to draw and the dSprites data they come from: ``(images, data)``, from
    ``--images`` (``data`` None), else dSprites samples (seeded)."""
    import numpy as np

    if FLAGS.images:
        from tfbvae.pixels import BadImages, check_image_values

        try:
            images = np.load(FLAGS.images, mmap_mode="r")
        except (OSError, ValueError) as err:  # not a .npy, truncated, or Python objects
            raise BadImages(f"--images {FLAGS.images} is not a readable .npy array: {err}") from None
        if images.ndim != 4 or tuple(images.shape[1:]) != tuple(source.image_shape):
            raise ValueError(f"--images {FLAGS.images} holds an array shaped {images.shape}; the "
                             f"model takes images shaped (n, {', '.join(map(str, source.image_shape))})")
        chosen = np.asarray(images[:count])
        check_image_values(chosen, f"--images {FLAGS.images}")  # the serving signatures' rule
        return chosen, None
    if tuple(source.image_shape) != (64, 64, 1):
        raise ValueError(f"the model takes {tuple(source.image_shape)} images, not dSprites': pass "
                         "--images=<a .npy of its kind of images, (n, H, W, C)>")
    from tfbvae.data.dsprites.ground_truth import DSprites

    data = DSprites(FLAGS.dsprites_source, FLAGS.data_path)
    return data.sample_observations(count, np.random.RandomState(FLAGS.seed)), data


def _main(argv: list[str]) -> int:
    """Draws the pictures of the model the flags name; refusals reach the user through
    :mod:`tfbvae.cli.app_runner`."""
    from tfbvae.trained_model import open_model

    source = open_model(FLAGS.model, FLAGS.checkpoint)
    try:  # the images the user pointed at (--images, or dSprites from --dsprites_source)
        images, data = input_images(source, max(FLAGS.num_images, FLAGS.gif_images))
    except (FileNotFoundError, OSError, RuntimeError, ValueError) as err:
        raise errors.BadInput(str(err)) from None
    kl, kl_source = source.kl_per_dim(images)
    from tfbvae import visualization as vis
    from tfbvae.training import event_files
    from tfbvae.evaluation.report import portable_record, write_json
    from tfbvae.visualization import kl_bar_chart, reconstruction_grid
    output_dir = FLAGS.output_dir or default_output_dir(source)
    os.makedirs(output_dir, exist_ok=True)
    written = {}

    def save(name: str, picture) -> None:
        written[name] = str(vis.save_png(picture, os.path.join(output_dir, f"{name}.png")))

    what = set(FLAGS.what)
    factors, labels = None, None
    if data is not None and FLAGS.label_factors and "traversals" in what:
        from tfbvae.evaluation import representation
        from tfbvae.evaluation.latent_factors import label, latent_factors

        factors = latent_factors(data, representation.of_model(source), kl,
                                 FLAGS.factor_samples, FLAGS.seed)
        labels = [label(record) for record in factors]
    if "traversals" in what:
        save("traversals", vis.traversal_grid(source, images[0], kl, FLAGS.span, FLAGS.steps,
                                              labels))
    if "gif" in what:
        frames = vis.traversal_frames(source, images[:FLAGS.gif_images], kl, FLAGS.span, FLAGS.steps)
        written["gif"] = str(vis.save_gif(frames, os.path.join(output_dir, "traversals.gif"),
                                          FLAGS.frame_ms))
    if "reconstructions" in what:
        save("reconstructions", reconstruction_grid(source, images[:FLAGS.num_images]))
    if "samples" in what:
        save("samples", vis.samples_grid(source, source.latent_dim, FLAGS.num_samples, FLAGS.seed))
    notes = []
    if "kl_curves" in what:
        logs = source.log_dir()
        history, capacity = event_files.kl_history(logs, source.latent_dim) if logs else ({}, None)
        if history:
            save("kl_curves", vis.kl_curves(history, capacity))
        else:
            notes.append(f"no per-dimension KL in training logs ({logs or 'none found'}): "
                         f"kl_per_dim.png shows the KL from {kl_source}")
            save("kl_per_dim", kl_bar_chart(kl, source.step))

    record = {
        "model": source.identity(),
        "kl_per_dim": [float(v) for v in kl],
        "kl_source": kl_source,
        "order_by_kl": [int(d) for d in vis.kl_order(kl)],
        "latent_factors": factors,
        "files": written,
        "notes": notes,
        "settings": {name: FLAGS[name].value for name in (
            "what", "images", "dsprites_source", "label_factors", "factor_samples", "num_images", "gif_images", "span", "steps",
            "num_samples", "frame_ms", "seed")},
    }
    write_json(os.path.join(output_dir, "pictures.json"), portable_record(record))
    for note in notes:
        print(f"NOTE: {note}")
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0



main = app_runner.main_of(_main, FLAGS)  # main(argv) -> exit status, callable from Python

if __name__ == "__main__":
    app_runner.run(_main, FLAGS)

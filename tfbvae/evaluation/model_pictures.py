"""Draws one trained model: what ``apps/visualize.py`` runs between its flags and its files.

:func:`draw_model` opens the model (a run directory or an export, see
:mod:`tfbvae.trained_model`), chooses the input images (``images``, a .npy, or seeded images
of the model's data set, from those its run held out), takes each latent dimension's KL
(recorded with the model, else measured on those images), names the ground-truth factor each
latent encodes most (normalised mutual information, as MIG), and draws the pictures asked for with :mod:`tfbvae.visualization`. Nothing is written
until :meth:`Pictures.write`, so a refusal leaves no files behind.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

import numpy as np

from tfbvae import errors
from tfbvae.evaluation.model_data import DataChoice

PICTURES = ("traversals", "gif", "reconstructions", "samples", "kl_curves")
RECORD_FILE = "pictures.json"
GIF_FILE = "traversals.gif"


@dataclasses.dataclass(frozen=True)
class PictureSettings:
    """What to draw and how: the flags of ``apps/visualize.py``, one field each."""

    model: str  # a run directory or an export (tfbvae.trained_model.open_model)
    checkpoint: str | None = None  # with a run directory: one of its checkpoints
    what: tuple[str, ...] = PICTURES  # some of PICTURES
    images: str | None = None  # a .npy of input images (n, H, W, C); default: from ``data``
    data: DataChoice = DataChoice()  # default: the model's own data set, as its run had it
    num_images: int = 8  # reconstructed images (the first is traversed)
    gif_images: int = 3  # rows of the animated traversal
    span: float = 3.0  # traversals move each latent from mean - span to mean + span
    steps: int = 9  # values per traversal
    num_samples: int = 32  # images decoded from prior samples
    frame_ms: int = 120  # milliseconds per GIF frame
    label_factors: bool = True  # name the factor of each traversal row (data with factors)
    factor_samples: int = 10000  # images encoded to name the factors
    seed: int = 0  # of the chosen images and the prior samples

    def record(self) -> dict:
        """The settings as ``pictures.json`` records them (the model is recorded apart)."""
        names = ("what", "images", "label_factors", "factor_samples",
                 "num_images", "gif_images", "span", "steps", "num_samples", "frame_ms", "seed")
        return {**{name: (list(value) if isinstance(value := getattr(self, name), tuple) else value)
                   for name in names}, "data": self.data.record()}


@dataclasses.dataclass
class Pictures:
    """A model's pictures, drawn but not yet written.

    ``drawn`` maps each picture's name to a uint8 RGB array, or for ``"gif"`` to its frames, in
    the order they are drawn; ``record`` is ``pictures.json`` without ``files``.
    """

    source: Any  # tfbvae.trained_model.ModelSource
    drawn: dict[str, Any]
    record: dict
    frame_ms: int = 120

    @property
    def notes(self) -> list[str]:
        """What the user should know about how the pictures were made."""
        return self.record["notes"]

    def write(self, output_dir: str | os.PathLike) -> dict[str, str]:
        """Writes the PNGs, ``traversals.gif`` and ``pictures.json`` (paths inside this
        repository relative to it; strict JSON) to ``output_dir``.

        Args:
            output_dir: created when missing.

        Returns:
            Each picture's name and the path it was written to, in drawing order.
        """
        from tfbvae import visualization as vis
        from tfbvae.evaluation.report import portable_record, write_json

        os.makedirs(output_dir, exist_ok=True)
        written = {}
        for name, picture in self.drawn.items():
            if name == "gif":
                path = vis.save_gif(picture, os.path.join(output_dir, GIF_FILE), self.frame_ms)
            else:
                path = vis.save_png(picture, os.path.join(output_dir, f"{name}.png"))
            written[name] = str(path)
        record = dict(self.record)
        notes = record.pop("notes")
        settings = record.pop("settings")
        write_json(os.path.join(output_dir, RECORD_FILE),
                   portable_record({**record, "files": written, "notes": notes,
                                    "settings": settings}))
        return written


def draw_model(settings: PictureSettings) -> Pictures:
    """Draws the pictures of the model ``settings`` names (see the module docstring).

    Args:
        settings: the model, the input images and the pictures to draw.

    Returns:
        The pictures, in memory, with their record: the model's identity, the KL per dimension
        and its source, the latents ordered by KL, the factor of each latent (or None), notes.

    Raises:
        tfbvae.errors.BadInput: a path that is no model, ``images`` or a data set that do not
            fit the model, data not available as asked.
    """
    from tfbvae.trained_model import open_model

    source = open_model(settings.model, settings.checkpoint)
    images, data, inputs = _input_images(settings, source)
    kl, kl_source = source.kl_per_dim(images)
    factors = _latent_factors(settings, source, data, kl)
    drawn, notes = _draw(settings, source, images, kl, kl_source, factors)
    from tfbvae.visualization import kl_order

    record = {
        "model": source.identity(),
        "kl_per_dim": [float(v) for v in kl],
        "kl_source": kl_source,
        "order_by_kl": [int(d) for d in kl_order(kl)],
        "latent_factors": factors,
        "inputs": inputs,
        "notes": notes,
        "settings": settings.record(),
    }
    return Pictures(source, drawn, record, settings.frame_ms)


def _input_images(settings: PictureSettings, source) -> tuple[np.ndarray, Any, dict]:
    """The images to draw, the data set they come from and where they come from (a record):
    ``settings.images`` (``data`` None), else the data set (:func:`_data_set_images`);
    refused as bad input when they cannot be loaded or do not fit the model."""
    count = max(settings.num_images, settings.gif_images)
    try:
        if settings.images:
            images = _images_from_file(settings.images, source, count)
            return images, None, {"file": settings.images, "count": len(images)}
        return _data_set_images(settings, source, count)
    except (FileNotFoundError, OSError, RuntimeError, ValueError) as err:
        raise errors.BadInput(str(err)) from None


def _images_from_file(path: str, source, count: int) -> np.ndarray:
    """The first ``count`` images of the .npy at ``path``, checked against the model's shape and
    the serving signatures' value rule."""
    from tfbvae.pixels import BadImages, check_image_values

    try:
        images = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:  # not a .npy, truncated, or Python objects
        raise BadImages(f"--images {path} is not a readable .npy array: {err}") from None
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(source.image_shape):
        raise ValueError(f"--images {path} holds an array shaped {images.shape}; the "
                         f"model takes images shaped (n, {', '.join(map(str, source.image_shape))})")
    chosen = np.asarray(images[:count])
    check_image_values(chosen, f"--images {path}")  # the serving signatures' rule
    return chosen


def _data_set_images(settings: PictureSettings, source, count: int
                     ) -> tuple[np.ndarray, Any, dict]:
    """``count`` images of the data set (the model's own unless asked), seeded: from the images
    its run held out when they are known (images the model never trained on), else from all.
    Returns the images (float32 in [0, 1]), the loaded data set and a record of the rows."""
    from tfbvae.evaluation.heldout import HeldOutSplit
    from tfbvae.evaluation.model_data import load_for_model, sample_rows

    data = load_for_model(settings.data, source)
    try:
        pool = HeldOutSplit.of_run(source.run, data).rows()
    except ValueError:
        pool = None
    if pool is not None and len(pool) < count:
        pool = None
    rows = sample_rows(data, count, settings.seed, pool)
    record = {"dataset": data.dataset, "source": data.source, "rows": [int(r) for r in rows],
              "from": "all images" if pool is None else "the run's held-out images"}
    return data.observed_floats(rows, np.random.RandomState(settings.seed)), data, record


def _latent_factors(settings: PictureSettings, source, data, kl) -> list[dict] | None:
    """The factor each latent encodes most, when the traversals are labelled with it (images of
    a data set with ground-truth factors, ``label_factors``), else None."""
    if data is None or not data.complete or not settings.label_factors or (
            "traversals" not in settings.what):
        return None
    from tfbvae.data.ground_truth import SourceGroundTruth
    from tfbvae.evaluation import representation
    from tfbvae.evaluation.latent_factors import latent_factors

    return latent_factors(SourceGroundTruth(data), representation.of_model(source), kl,
                          settings.factor_samples, settings.seed)


def _draw(settings: PictureSettings, source, images: np.ndarray, kl: np.ndarray, kl_source: str,
          factors: Sequence[dict] | None) -> tuple[dict[str, Any], list[str]]:
    """Each picture asked for, by name in drawing order, and the notes on how."""
    from tfbvae import visualization as vis

    what, drawn, notes = set(settings.what), {}, []
    if "traversals" in what:
        from tfbvae.evaluation.latent_factors import label

        labels = [label(record) for record in factors] if factors is not None else None
        drawn["traversals"] = vis.traversal_grid(source, images[0], kl, settings.span,
                                                 settings.steps, labels)
    if "gif" in what:
        drawn["gif"] = vis.traversal_frames(source, images[:settings.gif_images], kl,
                                            settings.span, settings.steps)
    if "reconstructions" in what:
        drawn["reconstructions"] = vis.reconstruction_grid(source, images[:settings.num_images])
    if "samples" in what:
        drawn["samples"] = vis.samples_grid(source, source.latent_dim, settings.num_samples,
                                            settings.seed)
    if "kl_curves" in what:
        name, picture, note = _kl_picture(source, kl, kl_source)
        drawn[name] = picture
        notes += [note] if note else []
    return drawn, notes


def _kl_picture(source, kl: np.ndarray, kl_source: str) -> tuple[str, np.ndarray, str | None]:
    """Each latent's KL over training from the run's logs (``kl_curves``); without them the
    final KL per latent as bars (``kl_per_dim``) and a note saying why."""
    from tfbvae import visualization as vis

    history, capacity, logs = source.kl_history()
    if history:
        return "kl_curves", vis.kl_curves(history, capacity), None
    note = (f"no per-dimension KL in training logs ({logs or 'none found'}): "
            f"kl_per_dim.png shows the KL from {kl_source}")
    return "kl_per_dim", vis.kl_bar_chart(kl, source.step), note


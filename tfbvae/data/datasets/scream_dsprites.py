"""Scream dSprites: each dSprites sprite cut into a random, tinted patch of Munch's *The Scream*.

Factors: shape (3), scale (6), orientation (40), posX (32), posY (32), as dSprites'
(:mod:`tfbvae.data.datasets.dsprites`); 64x64x3 images. Every observation takes a random 64x64
patch of the painting, averages it with a random RGB colour, and draws the sprite by inverting
that background at the sprite's pixels. Stored rows are dSprites' (bit-packed, one channel;
sources: the offline renderer, the official ``.npz`` or tfds ``dsprites``); the background is
drawn when a row is observed (:class:`~tfbvae.data.source.Observation`): by the training pipeline
from a random state seeded per batch (so a resumed run sees the same pictures), by the metrics
from their ``RandomState``. The painting is the user's file, ``--scream_image`` (the image
disentanglement_lib downloads, :data:`SCREAM_URL`); its SHA-256 is recorded in the source
string. Data set: Matthey et al. 2017 (https://github.com/deepmind/dsprites-dataset); the
variant: Locatello et al. 2019, "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations" (disentanglement_lib's ``scream_dsprites``, one of the seven data
sets of its unsupervised_study_v1).

disentanglement_lib (google-research/disentanglement_lib at commit
86a644d4ed35c771560dc3360756363d35477357), followed exactly except where listed below:

* ``data/ground_truth/named_data.py`` L48-49: ``dsprites.ScreamDSprites([1, 2, 3, 4, 5])``.
* ``data/ground_truth/dsprites.py`` L180-183: the painting opened with Pillow, thumbnailed to
  fit 350x274 (aspect kept, only shrinking), ``np.array(scream) * 1. / 255.``.
* ``dsprites.py`` L185-198, per image in order: row offset ``randint(0, H - 64)``, column offset
  ``randint(0, W - 64)`` (high exclusive), colour ``uniform(0, 1, size=3)``; background =
  (patch + colour) / 2; where the 0/1 sprite (float32, L95) is 1, ``1 - background``; written
  into float32 observations. The nuisance draw before it (colour's ``randint(1)``, ``util.py``
  L62-71) consumes no random state. :func:`observe` makes the same draws and float operations,
  so ``SourceGroundTruth`` gives dlib's observations for the same factors, ``RandomState`` and
  thumbnail.
* ``bin/dlib_download_data`` L64-68: the painting is
  https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg, saved as
  ``$DISENTANGLEMENT_LIB_DATA/scream/scream.jpg`` (``dsprites.py`` L31-32); tfbvae looks there
  when ``--scream_image`` is not given.

Differences: dlib calls ``scream.thumbnail((350, 274, 3))``, which today's Pillow rejects (13.0
unpacks the size as ``x, y``): tfbvae passes ``(350, 274)``, the size dlib meant. Pillow's
thumbnail (its JPEG draft mode and resampling, changed over versions) may make slightly different
pixels than the Pillow of 2019 did, so the thumbnail's own digest is recorded too. A painting that is not
RGB is converted to RGB first (dlib would fail on a grey one); one with 64 or fewer pixels either
way after thumbnailing is refused with a message (dlib's ``randint(0, 0)`` would fail). The images
may be tfbvae's offline rendering (recorded in the source string); the training pipeline serves
uint8 pixels (rounded to the nearest of 256 levels, :func:`tfbvae.pixels.floats_to_uint8`) where
dlib feeds float32, and visits the stored rows in reshuffled epochs with one random state per
batch where dlib draws each training image i.i.d. from one ``RandomState`` (``util.py`` L25-35):
the same distribution, not the same stream.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
from pathlib import Path

import numpy as np

from tfbvae import pixels
from tfbvae.data import paths
from tfbvae.data.datasets import dsprites
from tfbvae.data.datasets.base import LoadOptions, PathLike
from tfbvae.data.source import ImageSource, Observation

NAME = "scream_dsprites"
SCREAM_URL = "https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg"
DLIB_DATA_ENV = paths.DLIB_DATA_ENV
DLIB_FILE = ("scream", "scream.jpg")  # under $DISENTANGLEMENT_LIB_DATA (dsprites.py L31-32)
THUMBNAIL_SIZE = (350, 274)  # (width, height); dlib writes (350, 274, 3), dsprites.py L182
PATCH = 64  # the patch's side: dSprites' image size (dsprites.py L191-193)
HOW_TO_GET = (
    f"pass --scream_image=/path/to/The_Scream.jpg (scream_image= in code): the painting "
    f"disentanglement_lib uses, from {SCREAM_URL} (its bin/dlib_download_data saves it as "
    f"${DLIB_DATA_ENV}/scream/scream.jpg, where tfbvae also looks)"
)


@dataclasses.dataclass(frozen=True)
class Painting:
    """The thumbnailed painting: float64 ``(H, W, 3)`` in [0, 1] (read-only), its file and the
    first 12 hex digits of the file's SHA-256."""

    pixels: np.ndarray
    path: str
    sha256: str


def find_painting(scream_image: PathLike = None) -> Path:
    """``scream_image``, else ``$DISENTANGLEMENT_LIB_DATA/scream/scream.jpg`` when it exists."""
    if scream_image is None:
        root = os.environ.get(DLIB_DATA_ENV)
        if root and Path(root, *DLIB_FILE).is_file():
            return Path(root, *DLIB_FILE)
        raise ValueError(f"scream_dsprites draws its backgrounds from Munch's The Scream: "
                         f"{HOW_TO_GET}.")
    path = Path(scream_image).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"scream_dsprites: the painting {path} is not a file; "
                                f"{HOW_TO_GET}.")
    return path


def read_painting(path: str | os.PathLike) -> Painting:
    """The painting as dlib holds it (``dsprites.py`` L180-183), thumbnailed to fit 350x274."""
    import PIL.Image

    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            if image.mode != "RGB":  # dlib assumes an RGB file, as The_Scream.jpg is
                image = image.convert("RGB")
            image.thumbnail(THUMBNAIL_SIZE)
            scream = np.array(image) * 1. / 255.
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as err:
        raise ValueError(f"scream_dsprites: cannot read the painting {path} as an image "
                         f"({type(err).__name__}: {err}); {HOW_TO_GET}.") from err
    height, width = scream.shape[:2]
    if height <= PATCH or width <= PATCH:
        raise ValueError(
            f"scream_dsprites: the painting {path} is {width}x{height} pixels after "
            f"thumbnailing to fit {THUMBNAIL_SIZE[0]}x{THUMBNAIL_SIZE[1]}, but its backgrounds are "
            f"{PATCH}x{PATCH} patches at offsets randint(0, height - {PATCH}) and randint(0, "
            f"width - {PATCH}): it needs more than {PATCH} pixels each way; {HOW_TO_GET}.")
    scream.setflags(write=False)
    return Painting(scream, str(path), digest)


def observe(scream: np.ndarray, stored: np.ndarray,
            random_state: np.random.RandomState) -> np.ndarray:
    """dSprites pixels (uint8 0/255, ``(n, 64, 64, 1)``) -> float32 ``(n, 64, 64, 3)`` on patches
    of the painting ``scream`` (float64 ``(H, W, 3)``), as dlib's L185-198."""
    no_color_observations = pixels.images_to_float(stored)  # float32 0/1, as dlib's L95
    observations = np.repeat(no_color_observations, 3, axis=3)
    height, width = scream.shape[:2]
    for i in range(observations.shape[0]):
        x_crop = random_state.randint(0, height - PATCH)
        y_crop = random_state.randint(0, width - PATCH)
        background = (scream[x_crop:x_crop + PATCH, y_crop:y_crop + PATCH]
                      + random_state.uniform(0, 1, size=3)) / 2.
        mask = observations[i] == 1
        background[mask] = 1 - background[mask]
        observations[i] = background
    return observations


def observation(painting: Painting) -> Observation:
    """The random pixels of scream dSprites on ``painting``."""
    height, width = painting.pixels.shape[:2]
    # The thumbnail's own digest, not Pillow's version: a Pillow upgrade that draws the same
    # pixels changes nothing (a resumed run is not refused), one that draws others is seen.
    thumbnail = hashlib.sha256(np.ascontiguousarray(painting.pixels).tobytes()).hexdigest()[:12]
    return Observation(
        channels=3,
        apply=functools.partial(observe, painting.pixels),
        recipe=(f"scream_dsprites v1: background = (a random {PATCH}x{PATCH} patch of the "
                f"painting sha256:{painting.sha256} thumbnailed to {width}x{height} "
                f"(pixels sha256:{thumbnail}) + an RGB colour uniform in [0, 1)) / 2, sprite "
                "pixels = 1 - background (disentanglement_lib ScreamDSprites)"),
    )


def load(options: LoadOptions) -> ImageSource:
    """dSprites from the chosen source, observed on patches of the painting."""
    painting = read_painting(find_painting(options.scream_image))  # before any cache is built
    data = dsprites.observed(options, NAME, observation(painting))
    return dataclasses.replace(data, location=f"{data.location}; painting {painting.path}")


DATASET = dsprites.variant(
    NAME, "Scream dSprites",
    "dSprites (Matthey et al. 2017) cut into random tinted patches of Munch's The Scream, as "
    "disentanglement_lib's scream_dsprites (Locatello et al. 2019): 64x64x3; 5 factors.",
    load, flags=(f"{dsprites.FLAGS}, --scream_image=/path/to/The_Scream.jpg (the painting, "
                 f"from {SCREAM_URL})"))

"""Data sets: the field's ground-truth sets (dSprites and its variants, Shapes3D, SmallNORB,
Cars3D, MPI3D), CelebA and folders of images; one module each in :mod:`tfbvae.data.datasets`.

Entry points (imported lazily, so ``import tfbvae.data.ground_truth`` stays free of TensorFlow):

* :func:`make_datasets` — ``(train, validation, info)`` tf.data pipelines of uint8 batches of
  any data set of the registry; ``info.source`` names the source in use.
* :class:`DSprites` — dSprites as ground-truth data for disentanglement metrics.
* :func:`load_dsprites` — the 737,280 images, bit-packed, in the official order, with
  ``official_layout()`` for the official arrays.
* :func:`data_dir` — the cache root (``$TFBVAE_DATA_DIR``, default ``~/.cache/tfbvae``).
"""

import importlib

_LAZY = {
    "make_datasets": "tfbvae.data.pipeline",
    "load_source": "tfbvae.data.pipeline",
    "datasets_from_source": "tfbvae.data.pipeline",
    "DataInfo": "tfbvae.data.info",
    "ImageSource": "tfbvae.data.source",
    "LoadOptions": "tfbvae.data.datasets.base",
    "DataSet": "tfbvae.data.datasets.base",
    "DSprites": "tfbvae.data.dsprites.ground_truth",
    "load_dsprites": "tfbvae.data.dsprites.sources",
    "load_celeba": "tfbvae.data.datasets.celeba",
    "load_image_folder": "tfbvae.data.datasets.image_folder",
    "render": "tfbvae.data.dsprites.render",
    "data_dir": "tfbvae.data.paths",
    "GroundTruthData": "tfbvae.data.ground_truth",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfbvae.data' has no attribute {name!r}")

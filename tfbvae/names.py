"""The names the apps' flags offer: data sets, networks, likelihoods, objectives, strategies.

They live here, in a module that imports nothing, so that an app defines and checks its flags
before TensorFlow loads (a wrong flag is answered at once, not after TensorFlow's import). The
modules that implement them take their names from here: :mod:`tfbvae.data.pipeline`
(``DATASETS``) and :mod:`tfbvae.training.strategies` (``STRATEGIES``) import them; the registries of
:mod:`tfbvae.model.networks`, :mod:`tfbvae.model.likelihoods` and :mod:`tfbvae.model.objectives`, which map each
name to its code, are tested to hold exactly these names. The data sources of each data set
are in :mod:`tfbvae.data.dsprites.sources` and :mod:`tfbvae.data.celeba` (also free of
TensorFlow).
"""

DATASETS = (
    "dsprites", "dsprites_noshape", "color_dsprites", "noisy_dsprites", "scream_dsprites",
    "shapes3d", "smallnorb", "cars3d", "mpi3d_toy", "mpi3d_realistic", "mpi3d_real",
    "celeba", "image_folder",
)
NETWORKS = ("burgess", "higgins_conv", "higgins_mlp", "locatello")
LIKELIHOODS = ("bernoulli", "gaussian")
OBJECTIVES = ("beta", "capacity", "hinge")
CAPACITY_OBJECTIVES = ("capacity", "hinge")  # the objectives whose C the training raises
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

"""The names the apps' flags offer: data sets, networks, likelihoods, objectives, strategies.

They live here, in a module that imports nothing, so that an app defines and checks its flags
before TensorFlow loads (a wrong flag is answered at once, not after TensorFlow's import). The
registries that map each name to its code take their names from here or are tested to hold
exactly these: :mod:`tfbvae.data.datasets` (``DATASETS``; each data set's sources are in its
module), :mod:`tfbvae.model.networks`, :mod:`tfbvae.model.likelihoods`,
:mod:`tfbvae.model.objectives` and :mod:`tfbvae.training.strategies` (``STRATEGIES``).
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

"""KL divergence of the diagonal-Gaussian posterior against the N(0, I) prior."""

from keras import ops


def gaussian_kl_per_dim(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, 1)) for each latent dimension, in nats.

    Closed form (Kingma & Welling 2014, App. B): 0.5 * (sigma^2 + mu^2 - 1 - log sigma^2).
    Returns a tensor shaped like ``mean``: sum it over latents for the model's KL term.
    """
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    return 0.5 * (ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)

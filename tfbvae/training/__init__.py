"""Training a beta-VAE: settings, the run directory, checkpoints, strategies, event files and
the callbacks that anneal C and log to TensorBoard.
"""

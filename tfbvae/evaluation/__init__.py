"""Measuring disentanglement: the metrics (pure functions of a representation function and
a ground-truth data set), representations of trained models, held-out likelihoods, which latent
encodes which factor, and the evaluation report. It needs no training code.
"""

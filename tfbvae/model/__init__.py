"""The beta-VAE itself: the Keras model and its training step, objectives, likelihoods,
KL divergences and networks. It touches no files and knows no data set.
"""

"""dSprites (Matthey et al. 2017): the offline renderer, the factor layout, the sources
(rendered, official .npz, tfds) and the ground-truth adapter.
"""

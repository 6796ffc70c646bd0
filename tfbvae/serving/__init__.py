"""What a TensorFlow Serving user reads: the SavedModel export, its signatures, image bytes
and the models.config. It knows no data set.
"""

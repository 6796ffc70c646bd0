"""What the apps share: the flags that open a trained model (checked before TensorFlow
loads), and how every app turns a refusal into one line and an exit status and offers a
``main(argv)`` that Python can call.
"""

"""What the apps share: the flag names (free of TensorFlow, so flags are checked first), the
flags that open a trained model, and how every app turns a refusal into one line and an exit
status.
"""

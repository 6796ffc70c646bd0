"""tfbvae's programs. Each is run as ``python apps/<name>.py --flags`` and also importable:
``from apps import train; train.main(["train.py", "--steps=10"])`` returns the exit status the
program would exit with. Importing an app defines its flags on its own ``FlagValues``."""

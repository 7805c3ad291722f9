"""Evaluation stage: ``python -m e3dnas.evaluate ckpt=<path> dataset=<name>``."""

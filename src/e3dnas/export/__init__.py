"""Deployment export: ``python -m e3dnas.export ckpt=<path> format=torchscript|onnx|exported_program``.

The trained network with BatchNorm folded into its convolutions, serialised at the checkpoint's clip size,
checked against the eager network and timed on this CPU (docs/export.md).
"""

"""Latency profiling (``python -m e3dnas.profile +budget=NAME device=cpu|cuda``): see e3dnas.latency."""

"""e3dnas: training-free search of efficient 3D CNNs by maximising spatio-temporal entropy (E3D)."""

__version__ = "0.1.0"

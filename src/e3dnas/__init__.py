"""e3dnas: training-free search of efficient 3D CNNs by maximising spatio-temporal entropy (E3D)."""

# Registers the dataset schema in Hydra's ConfigStore, which conf/dataset/*.yaml name in their defaults: every
# composition of a config (entry points, tests, scripts) must find it.
import e3dnas.data.config  # noqa: F401

__version__ = "0.1.0"

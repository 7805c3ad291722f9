"""Training stage: ``python -m e3dnas.train arch=<yaml> dataset=<name> dataset.root=<dir>``."""

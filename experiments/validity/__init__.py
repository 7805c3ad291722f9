"""The validity study: does the score pick better networks?  ``python -m experiments.validity.run``."""

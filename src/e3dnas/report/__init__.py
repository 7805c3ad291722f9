"""Compare the runs of a sweep (``python -m e3dnas.report <sweep dir>``): tables and plots, offline."""

"""The project's experiments and benchmarks, run from the repository root as ``python -m experiments.<name>``
(experiments/README.md lists each with the question it answers, its make target and its result file).
Helpers two scripts share live in :mod:`experiments.common`; no script imports another."""

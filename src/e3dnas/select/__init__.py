"""``python -m e3dnas.select``: the score narrows, a little training chooses.

The finalists of a training-free search (its population's best distinct networks near the budget) train on
the task with validation every epoch; asynchronous successive halving (Optuna's ``SuccessiveHalvingPruner``)
stops the worse ones at each rung, and the network with the best validation accuracy after the full recipe
is ``selected.yaml``.
"""

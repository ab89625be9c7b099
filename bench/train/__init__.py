"""Training wiring shared by ``pftryon train``, ``pftryon ablate`` and the suite's trained methods.

Modules (import from them; this package imports nothing):

- :mod:`~bench.train.wiring`: which methods train through which stages (each adapter's
  :attr:`~bench.methods.TryOnMethod.stages`), a dataset of the suite as training batches, and
  :func:`~bench.train.wiring.train_on_dataset` (``pftryon train``);
- :mod:`~bench.train.recipe`: a recipe (``bench/recipes/<name>.yaml``) loaded into a frozen
  :class:`~bench.train.recipe.Recipe` (unknown keys are errors);
- :mod:`~bench.train.data`: a recipe's synthetic data, synthesised once, and its splits as training batches;
- :mod:`~bench.train.runs`: a recipe's training runs in order (:func:`~bench.train.runs.plan_runs`), each trained
  resumably (:func:`~bench.train.runs.train_run`);
- :mod:`~bench.train.convergence`: whether a run converged by the suite's criterion, read from its log.
"""

"""Studies: many ``apps/train.py`` runs described by one file, run, evaluated and aggregated.

* :mod:`~tfbvae.study.spec`: the study file (``studies/*.ini``) and its runs (:class:`~tfbvae.study.spec.Run`).
* :mod:`~tfbvae.study.run_state`: where a run stands, read from its directory.
* :mod:`~tfbvae.study.commands`: the train, export and evaluate commands of a run.
* :mod:`~tfbvae.study.runner`: lists, starts, resumes and evaluates the runs
  (:func:`~tfbvae.study.runner.run_study`, what ``apps/study.py`` calls).
* :mod:`~tfbvae.study.aggregate` and :mod:`~tfbvae.study.plots`: ``results.json``,
  ``results.md`` and the plots, from the run directories alone.

Nothing here imports TensorFlow at import time; only reading TensorBoard logs loads it.
"""

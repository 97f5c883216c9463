"""AutoML studies: the search space from the train schema, the launch review, and the Optuna coordinator.

A train run whose policy is on (:mod:`skillrun.policy.automl`) becomes a
*study job*: ``plan`` shows its launch review (:mod:`.plan`), and the job runs
``python -m skillrun.automl JOB_DIR`` (:mod:`.__main__`), which asks Optuna for
configurations (:mod:`.engine`, :mod:`.space`), runs each as a child train job
and tells the results back (:mod:`.study`), writing ``best_rec.json``, a trials
table and plots (:mod:`.outputs`). Nothing here is imported by ``plan`` except
:mod:`.plan`, :mod:`.space`, :mod:`.settings` and :mod:`.estimate`, none of
which imports optuna or torch. See ``references/automl.md``.
"""

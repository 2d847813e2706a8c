"""One module per pipeline stage, each holding that stage's Prefect flow: the wiring, nothing else.

A stage flow reads the tables an earlier stage wrote (``flows/registry.py`` declares them,
and ``dvc.yaml`` is generated from it), runs the pure functions of ``formset.tasks`` on
them, once per labeled set where the stage works per set (a Prefect task each, in parallel
on the runner of ``params.yaml: runner``), and writes its tables through
``partitions``: one Parquet partition per set, atomically. A stage's code is its module's
import closure. ``formset stage <name>`` runs one stage (what ``dvc repro`` calls);
``flows.build.build_dataset`` runs them all in order.
"""

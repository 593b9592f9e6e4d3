"""The study: recipes, measured runs, sweeps, results and reports built on the framework.

A leaf package: nothing outside ``minidd.study`` imports it (``tests/test_import_graph.py``), so
the engine, the stash, ``nn``, ``optim`` and ``data`` can be read and used without it.  The main
job is :func:`minidd.study.cli.main` (``minidd-experiments``, ``python -m minidd``,
``run_experiments.py``).
"""

#!/usr/bin/env python3
"""The main job from a source checkout: the same as ``minidd-experiments`` and ``python -m minidd``
(``--help`` lists the options; the code is in ``minidd/study/cli.py``)."""
import sys

from minidd.study.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python run_experiments.py"))

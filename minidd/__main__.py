"""``python -m minidd``: the main job (``minidd.study.cli``)."""
import sys

from .study.cli import main

sys.exit(main(prog="python -m minidd"))

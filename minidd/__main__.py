"""``python -m minidd``: the main job (``minidd.cli``)."""
import sys

from .cli import main

sys.exit(main(prog="python -m minidd"))

"""Exercise 2 (tutorial stop 2): the backward walk.

Write ``backward(tensor, grad)``: starting from ``tensor._node`` (a ``Context``), run every
node's ``node.fn.backward(node, g)`` once, after all the nodes that consume its output have run
(so ``g`` is complete), and hand each returned gradient to ``node.parents[i]``: another
``Context`` (add it to that node's gradient), a leaf ``Tensor`` (accumulate into its ``.grad``)
or ``None`` (no gradient wanted).  A backward may return one array or a tuple; no recursion (a
chain of thousands of ops must work).  Check: ``python -m pytest exercises/check_exercises.py -k ex2``.
"""
import numpy as np  # noqa: F401  (you will need it)

from minidd import Tensor  # noqa: F401
from minidd.autograd import Context  # noqa: F401


def backward(tensor, grad=None) -> None:
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    raise NotImplementedError("exercise 2: write the walk (count consumers, then run ready nodes)")

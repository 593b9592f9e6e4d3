"""Exercise 2 (tutorial stop 2): the backward walk."""
import numpy as np

from minidd import Tensor
from minidd.autograd import Context


def backward(tensor: Tensor, grad=None) -> None:
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``, each node run once, after all
    of its consumers (no recursion: a chain of thousands of ops must work)."""
    grad = np.ones_like(tensor.data) if grad is None else np.asarray(grad, tensor.dtype)
    consumers, stack, seen = {}, [tensor._node], {tensor._node}
    while stack:  # count how many nodes consume each node
        node = stack.pop()
        for p in node.parents:
            if isinstance(p, Context):
                consumers[p] = consumers.get(p, 0) + 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
    grads, ready = {tensor._node: grad}, [tensor._node]
    while ready:
        node = ready.pop()
        in_grads = node.fn.backward(node, grads.pop(node))
        in_grads = in_grads if isinstance(in_grads, tuple) else (in_grads,)
        for p, g in zip(node.parents, in_grads):
            if p is None or g is None:
                continue
            if isinstance(p, Tensor):  # a leaf: accumulate into its own array
                p.grad = np.array(g, dtype=p.dtype) if p.grad is None else p.grad + g
                continue
            grads[p] = g if p not in grads else grads[p] + g
            consumers[p] -= 1
            if consumers[p] == 0:
                ready.append(p)

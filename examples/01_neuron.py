"""Scalar autograd: one neuron, ``o = tanh(a*b + c)``, on 0-d tensors.

micrograd's first example in minidd.  Backward fills ``a.grad``, ``b.grad`` and ``c.grad``; we
check each against a central finite difference ``(f(x+h) - f(x-h)) / 2h`` and against the chain
rule written out by hand: ``do/da = (1 - o^2) * b``, ``do/db = (1 - o^2) * a``, ``do/dc = 1 - o^2``.

    python -m examples.01_neuron                 # a=2, b=-3, c=6.88 (from the repository root)
    python -m examples.01_neuron --values 0.5 1 -1
"""
import argparse

import numpy as np

from minidd import Tensor


def neuron(a, b, c):
    """The expression: works on Tensors (builds a graph) and on plain floats (just a number)."""
    n = a * b + c
    return n.tanh() if isinstance(n, Tensor) else np.tanh(n)


def finite_difference(f, values, i, h=1e-6):
    """d f / d values[i] by central differences, in float64."""
    up, down = list(values), list(values)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=float, nargs=3, default=[2.0, -3.0, 6.8813735870195432],
                    metavar=("A", "B", "C"))
    args = ap.parse_args(argv)

    # 0-d float64 leaves (a Python float alone would become float32, minidd's default).
    leaves = [Tensor(v, requires_grad=True, dtype="float64") for v in args.values]
    a, b, c = leaves
    o = neuron(a, b, c)
    o.backward()                      # o is 0-d: no grad argument needed

    out = o.item()
    by_hand = [(1 - out ** 2) * args.values[1], (1 - out ** 2) * args.values[0], 1 - out ** 2]
    print(f"o = tanh(a*b + c) = {out:.6f}   (a, b, c = {', '.join(f'{v:g}' for v in args.values)})")
    print(f"{'input':<6} {'backward':>12} {'finite diff':>12} {'chain rule':>12}")
    rows = []
    for i, name in enumerate("abc"):
        grad = float(leaves[i].grad)
        fd = finite_difference(neuron, args.values, i)
        rows.append((name, grad, fd, by_hand[i]))
        print(f"{name:<6} {grad:>12.6f} {fd:>12.6f} {by_hand[i]:>12.6f}")
    worst = max(abs(g - fd) for _, g, fd, _ in rows)
    print(f"largest |backward - finite diff| = {worst:.2e}")
    return {"output": out, "rows": rows, "worst": worst}


if __name__ == "__main__":
    main()

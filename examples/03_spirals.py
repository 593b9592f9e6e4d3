"""An MLP learns three interleaved spirals; the figure shows its decision boundary.

The training loop written out: forward, loss, ``zero_grad``, ``backward``, ``step``.  Accuracy is
measured on held-out points drawn from the same spirals.

    python -m examples.03_spirals --out figures     # saves figures/spirals.png (needs matplotlib)
"""
import argparse
import os

import numpy as np

from minidd import Tensor, functional as F, nn, no_grad
from minidd.data.synthetic import spirals
from minidd.optim import Adam


def pyplot():
    """matplotlib's pyplot (headless), or None with a hint when it is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no figure: matplotlib is missing (pip install ".[figures]")')
        return None
    return plt


def predict(model, x):
    with no_grad():                   # no graph, nothing stashed
        return model(Tensor(x)).data.argmax(axis=1)


def train(n=600, hidden=64, steps=600, lr=0.01, seed=0):
    rng = np.random.default_rng(seed)
    x, y = spirals(n, classes=3, rng=rng)
    x_test, y_test = spirals(n, classes=3, rng=rng)
    model = nn.MLP((2, hidden, hidden, 3), rng=rng)
    opt = Adam(model.parameters(), lr=lr)
    for step in range(steps):
        loss = F.cross_entropy(model(Tensor(x)), y)   # full batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}")
    acc = {"train": float((predict(model, x) == y).mean()),
           "test": float((predict(model, x_test) == y_test).mean())}
    print(f"accuracy: train {acc['train']:.1%}, test {acc['test']:.1%} (chance: 33%)")
    return model, (x, y), acc


def plot_boundary(plt, model, x, y, acc, path):
    from matplotlib.colors import ListedColormap
    colors = ListedColormap(["#d62728", "#1f77b4", "#2ca02c"])   # class 0, 1, 2
    g = np.linspace(-1.3, 1.3, 200, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    zone = predict(model, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, zone, levels=[-0.5, 0.5, 1.5, 2.5], cmap=colors, alpha=0.2)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap=colors, s=8, vmin=-0.5, vmax=2.5)
    ax.set(title=f"MLP {'-'.join(map(str, model.sizes))}: decision regions\n"
                 f"train accuracy {acc['train']:.0%}, held-out {acc['test']:.0%}", xticks=[], yticks=[])
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="training points (default 600)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=".", help="folder for spirals.png (default: here)")
    args = ap.parse_args(argv)
    model, (x, y), acc = train(args.n, args.hidden, args.steps, seed=args.seed)
    plt, path = pyplot(), None
    if plt is not None:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "spirals.png")
        plot_boundary(plt, model, x, y, acc, path)
    return {"accuracy": acc, "figure": path}


if __name__ == "__main__":
    main()

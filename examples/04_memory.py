"""Where training memory goes: the stash of one forward pass under three policies.

Training keeps, until backward, what every op saved with ``ctx.save``.  The ledger counts it
exactly, per layer and per role, at its peak (the end of the forward pass).  Compare ``Dense``,
``ZeroValue`` (lossless, gains only on exact zeros: ReLU) and ``DeferredDropout(0.9)`` (keeps
the top 10% of each weight-gradient input) on a GELU mini-BERT or a ReLU MLP.

    python -m examples.04_memory --out figures                # mini-BERT; figures/memory_bert.png
    python -m examples.04_memory --model mlp --out figures
"""
import argparse
import os

import numpy as np

from minidd import Tensor, functional as F, nn, stash
from minidd.data.synthetic import marker_sequences

POLICIES = {"dense": stash.Dense(), "zero_value": stash.ZeroValue(),
            "dd:0.9": stash.DeferredDropout(drop=0.9)}


def build(model, batch, size, rng):
    """A model and one batch: (model, inputs, labels)."""
    if model == "bert":
        tokens, mask, y = marker_sequences(batch, seq_len=size, vocab=64, rng=rng)
        net = nn.MiniBERT(64, max_len=size, dim=size, heads=4, layers=2, ff_dim=4 * size, rng=rng)
        return net, (tokens, mask), y
    net = nn.MLP((784, 8 * size, 8 * size, 10), rng=rng)
    return net, (Tensor(rng.standard_normal((batch, 784)).astype(np.float32)),), rng.integers(0, 10, batch)


def measure(net, inputs, y, policy):
    """Stash bytes after the forward pass: {"layer": {name: bytes}, "role": {...}, "total"}."""
    with stash.use(policy):
        loss = F.cross_entropy(net(*inputs), y)
        led = stash.ledger()
        out = {key: {k: t["nbytes"] for k, t in led.by(key).items()} for key in ("layer", "role")}
        out["total"] = led.current
        del loss                      # free the graph before leaving the policy's block
    return out


def table(results, key):
    names = list(dict.fromkeys(k for r in results.values() for k in r[key]))
    lines = [f"{key:<28}" + "".join(f"{p:>12}" for p in results)]
    for n in names + ["total"]:
        vals = [r["total"] if n == "total" else r[key].get(n, 0) for r in results.values()]
        lines.append(f"{n[:28]:<28}" + "".join(f"{v / 1024:>10.1f}kB" for v in vals))
    return "\n".join(lines)


def plot(plt, results, title, path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 6), gridspec_kw={"width_ratios": [1, 2]})
    for ax, key in zip(axes, ("role", "layer")):
        names = list(dict.fromkeys(k for r in results.values() for k in r[key]))[::-1]
        y = np.arange(len(names))
        for i, (pol, r) in enumerate(results.items()):
            ax.barh(y + (1 - i) * 0.27, [r[key].get(n, 0) / 1024 for n in names], 0.27, label=pol)
        ax.set(yticks=y, yticklabels=names, xlabel="stash kB", title=f"per {key}")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("bert", "mlp"), default="bert")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64, help="bert: sequence length and width; mlp: width / 8")
    ap.add_argument("--out", default=".", help="folder for memory_<model>.png")
    args = ap.parse_args(argv)
    net, inputs, y = build(args.model, args.batch, args.size, np.random.default_rng(0))
    results = {name: measure(net, inputs, y, p) for name, p in POLICIES.items()}
    print(table(results, "role"), table(results, "layer"), sep="\n\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no figure: matplotlib is missing (pip install ".[figures]")')
        return results
    os.makedirs(args.out, exist_ok=True)
    totals = ", ".join(f"{p} {r['total'] / 2**20:.1f} MiB" for p, r in results.items())
    plot(plt, results, f"{args.model}, batch {args.batch}: the stash after the forward pass ({totals})",
         os.path.join(args.out, f"memory_{args.model}.png"))
    return results


if __name__ == "__main__":
    main()

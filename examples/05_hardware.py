"""From a trained model to the TPUv3 model: ``minidd.trace`` into ``hardware``.

Train a small mini-BERT with deferred dropout and trace one batch: the trace is plain data (layer
shapes, what each layer stashed, the measured fraction of zeros), all that ``hardware`` reads.
The hardware model then runs a training step on a TPUv3 core under the zero-value baseline and
under deferred dropout; then the same for BERT-base, whose stash is gigabytes.

    python -m examples.05_hardware --out figures     # figures/hardware_footprint.png
"""
import argparse
import os

import numpy as np

import hardware
from minidd import functional as F, nn, stash
from minidd.data.synthetic import marker_sequences
from minidd.optim import Adam
from minidd.trace import trace

PARTS = ("weights", "gradients", "optimizer", "stash", "live")


def train(steps, batch, seq, dim, policy, rng):
    tokens, mask, y = marker_sequences(batch * steps, seq_len=seq, vocab=32, rng=rng)
    net = nn.MiniBERT(32, max_len=seq, dim=dim, heads=4, layers=2, ff_dim=4 * dim, dropout=0.0, rng=rng)
    opt = Adam(net.parameters(), lr=3e-3)
    with stash.use(policy):
        for s in range(steps):
            i = slice(s * batch, (s + 1) * batch)
            loss = F.cross_entropy(net(tokens[i], mask[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"trained {steps} steps under {policy!r}: last loss {loss.item():.3f}")
    return net, (tokens[:batch], mask[:batch], y[:batch])


def show(cmp):
    print(f"{cmp.workload}, batch {cmp.baseline.batch}:")
    for rep in (cmp.baseline, cmp.proposed):
        fp = ", ".join(f"{p} {getattr(rep.footprint, p) / 2**20:.2f}" for p in PARTS)
        print(f"  {rep.policy:<28} {rep.seconds * 1e3:8.3f} ms/step; MiB: {fp}")
    print(f"  stash {cmp.stash_reduction:.2f}x smaller, footprint {cmp.footprint_reduction:.2f}x; largest batch "
          f"{cmp.baseline_own.batch:,} -> {cmp.proposed_own.batch:,}; same-batch speedup {cmp.speedup_same_batch:.3f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("steps", 60), ("batch", 32), ("seq", 16), ("dim", 32)):
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--out", default=".", help="folder for hardware_footprint.png")
    args = ap.parse_args(argv)
    policy = stash.DeferredDropout(drop=0.9)
    net, (tok, mask, y) = train(args.steps, args.batch, args.seq, args.dim, policy, np.random.default_rng(0))

    # 1. The trace: one batch through the model (under ZeroValue, which measures the zeros).
    t = trace(net, lambda m: F.cross_entropy(m(tok, mask), y), batch=args.batch, name="trained mini-BERT")
    gemm = next(layer for layer in t["layers"] if layer["kind"] == "gemm" and not layer["keep_dense"])
    print(f"trace: {len(t['layers'])} layers, for example\n  {gemm}")
    # 2. The hardware side reads only that dict, then models a step per policy.
    proposed = hardware.policy_from_config(policy.config())    # the trained policy, every option
    ours = hardware.compare(hardware.TPUV3, hardware.workload_from_dict(t), proposed, batch=args.batch)
    paper = hardware.compare(hardware.TPUV3, hardware.bert("base", 128), proposed)
    show(ours)
    show(paper)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no figure: matplotlib is missing (pip install ".[figures]")')
        return {"trace": t, "ours": ours, "paper": paper}
    fig, axes = plt.subplots(2, 1, figsize=(8, 4.5))
    for ax, cmp, unit in zip(axes, (ours, paper), (2**20, 2**30)):
        for j, rep in enumerate((cmp.baseline, cmp.proposed)):
            sizes = [getattr(rep.footprint, p) / unit for p in PARTS]
            ax.barh(j, sizes, left=np.cumsum([0] + sizes[:-1]), color=[f"C{i}" for i in range(5)],
                    label=PARTS if j == 0 else None)
        ax.set(yticks=[0, 1], yticklabels=[cmp.baseline.policy, cmp.proposed.policy],
               xlabel="MiB" if unit == 2**20 else "GiB", title=f"{cmp.workload}, batch {cmp.baseline.batch}")
    axes[1].legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    fig.suptitle("Modelled training footprint on a TPUv3 core")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "hardware_footprint.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")
    return {"trace": t, "ours": ours, "paper": paper}


if __name__ == "__main__":
    main()

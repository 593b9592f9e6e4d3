"""Make every figure of docs/tutorial.md into docs/figures/ (needs matplotlib).

    python docs/make_figures.py

The example figures come from running the examples at their default size; the graph drawings
come from ``minidd.to_dot``, rendered to PNG by Graphviz's ``dot`` when it is installed (the
``.dot`` text is written either way; Graphviz is never a dependency of minidd).
"""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run from a source checkout without installing

import minidd  # noqa: E402
from minidd import Tensor, functional as F, nn, stash  # noqa: E402

OUT = ROOT / "docs" / "figures"


def example(name, *argv):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(a) for a in argv] + ["--out", str(OUT)])


def draw(name, tensor):
    """Write ``name.dot`` from ``minidd.to_dot(tensor)``, and ``name.png`` if ``dot`` exists."""
    path = OUT / f"{name}.dot"
    path.write_text(minidd.to_dot(tensor))
    if shutil.which("dot") is None:
        print(f"{path} written; install Graphviz (for example apt-get install graphviz) for the PNG")
        return
    subprocess.run(["dot", "-Tpng", "-Gdpi=90", str(path), "-o", str(path.with_suffix(".png"))], check=True)
    print(f"figure: {path.with_suffix('.png')}")


def graphs():
    a, b, c = (Tensor(v, requires_grad=True) for v in (2.0, -3.0, 6.8813735870195432))
    draw("neuron_graph", (a * b + c).tanh())
    rng = np.random.default_rng(0)
    net = nn.MLP((16, 32, 32, 4), rng=rng)
    x, y = Tensor(rng.standard_normal((8, 16)).astype(np.float32)), rng.integers(0, 4, 8)
    with stash.use(stash.DeferredDropout(drop=0.9)):
        loss = F.cross_entropy(net(x), y)
        draw("mlp_stash_graph", loss)
        del loss


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    example("03_spirals")
    example("04_memory", "--model", "bert")
    example("05_hardware")
    graphs()


if __name__ == "__main__":
    main()

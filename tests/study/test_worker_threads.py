"""The sweep's run processes use one thread in every BLAS/OpenMP pool the process loads."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from minidd.study.worker import BLAS_THREAD_VARS, single_threaded_env

pytest.importorskip("threadpoolctl")  # an optional tool here, not a dependency of minidd

_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from threadpoolctl import threadpool_info
from minidd import Tensor, functional as F, nn
from minidd.optim import Adam, SGD
rng = np.random.default_rng(0)
model = nn.MLP((8, 16, 4), rng=rng)
x = Tensor(rng.standard_normal((5, 8)).astype(np.float32))
for opt in (SGD(model.parameters(), lr=0.1), Adam(model.parameters())):
    loss = F.cross_entropy(F.gelu(model(x)), np.arange(5) % 4)  # exact GELU: scipy.special
    opt.zero_grad(); loss.backward(); opt.step()
print(json.dumps([(p["internal_api"], p["filepath"], p["num_threads"]) for p in threadpool_info()]))
"""


def test_every_thread_pool_of_a_run_process_has_one_thread(monkeypatch):
    for var in BLAS_THREAD_VARS:  # whatever this shell set: the worker's environment must say it
        monkeypatch.delenv(var, raising=False)
    root = str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in single_threaded_env().items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", _PROBE, root], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    pools = json.loads(out.strip().splitlines()[-1])
    assert pools, "threadpoolctl found no BLAS/OpenMP library at all"
    assert any("openblas" in api for api, _, _ in pools)  # NumPy's at least
    assert all(n == 1 for _, _, n in pools), pools

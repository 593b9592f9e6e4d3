"""A sweep on a Dask cluster (here a local one: two worker processes) gives the results of
``--jobs 1`` bit for bit, in the same store, resuming the same way."""
import pytest

from minidd.study.sweep import SweepConfig, run_sweep

distributed = pytest.importorskip("distributed")


def test_a_local_dask_cluster_gives_the_results_of_jobs_1(tmp_path):
    cfg = SweepConfig(("mlp",), ("zero_value", "deferred_dropout:0.9"), (0,), epochs={"mlp": 1},
                      train_limit={"mlp": 96})
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        first = run_sweep(cfg, tmp_path / "dask", executor="dask", scheduler=address, progress=False, max_runs=1)
        assert len(first) == 1
        on_dask = run_sweep(cfg, tmp_path / "dask", executor="dask", scheduler=address, progress=False)
    local = run_sweep(cfg, tmp_path / "local", jobs=1, progress=False)
    assert len(on_dask) == 2 and all(r.ok for r in on_dask)
    assert {r.key: r.comparable() for r in on_dask} == {r.key: r.comparable() for r in local}
    lines = (tmp_path / "dask" / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 2 and (tmp_path / "dask" / "config.json").read_text() == (
        tmp_path / "local" / "config.json").read_text()

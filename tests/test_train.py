import numpy as np
import pytest

from minidd import nn, stash
from minidd.data import gaussian_clusters, marker_sequences
from minidd.optim import SGD, AdamW
from minidd.checkpoint import CheckpointError, CheckpointWarning
from minidd.train import evaluate, fit


def _run(seed, epochs=3, policy=None, checkpoint=None, resume=False):
    data_rng = np.random.default_rng(0)
    x, y = gaussian_clusters(400, dim=10, classes=3, rng=data_rng)
    rng = np.random.default_rng(seed)
    model = nn.MLP((10, 32, 32, 3), rng=rng)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    hist = fit(model, (x[:300], y[:300]), optimizer=opt, epochs=epochs, batch_size=32, rng=rng,
               policy=policy, test_data=(x[300:], y[300:]), checkpoint=checkpoint, resume=resume,
               progress=False)
    return model, opt, hist


def test_same_seed_is_bit_identical_and_learns():
    m1, _, h1 = _run(5, policy=stash.DeferredDropout(0.8))
    m2, _, h2 = _run(5, policy=stash.DeferredDropout(0.8))
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert h1["test_accuracy"] == h2["test_accuracy"] and h1["train_loss"] == h2["train_loss"]
    assert h1["test_accuracy"][-1] > 0.9
    m3, _, _ = _run(6)
    assert not np.array_equal(m3.state_dict()["layers.0.weight"], s1["layers.0.weight"])
    assert all(b > 0 for b in h1["stash_peak_bytes"])


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
    ck = str(tmp_path / "ck.npz")
    full, _, hist_full = _run(1, epochs=4)
    _run(1, epochs=2, checkpoint=ck)                 # "interrupted" after 2 epochs
    resumed, _, hist = _run(1, epochs=4, checkpoint=ck, resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert hist["test_accuracy"] == hist_full["test_accuracy"]


def test_nan_loss_names_the_step_and_keeps_the_checkpoint(tmp_path):
    ck = tmp_path / "ck.npz"
    x, y = gaussian_clusters(64, dim=4, classes=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    model = nn.MLP((4, 8, 2), rng=rng)
    opt = SGD(model.parameters(), lr=0.1)
    fit(model, (x, y), optimizer=opt, epochs=1, batch_size=16, rng=rng, checkpoint=str(ck), progress=False)
    before = ck.read_bytes()
    x_bad = x.copy()
    x_bad[20] = np.nan
    with pytest.raises(FloatingPointError, match=r"loss is nan at step \d+ \(epoch 1, batch \d+\); the last good checkpoint"):
        fit(model, (x_bad, y), optimizer=opt, epochs=1, batch_size=16, rng=np.random.default_rng(1),
            checkpoint=str(ck), progress=False)
    assert ck.read_bytes() == before
    assert len(stash.ledger()) == 0


def test_bad_data_and_labels_are_refused():
    rng = np.random.default_rng(0)
    model = nn.MLP((4, 2), rng=rng)
    opt = SGD(model.parameters(), lr=0.1)
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        fit(model, (x, np.full(8, 5)), optimizer=opt, epochs=1, batch_size=4, rng=rng, progress=False)
    with pytest.raises(ValueError, match=r"train_data\[0\] must be an ndarray with 7 rows \(as many as the labels\)"):
        fit(model, (x, np.zeros(7, int)), optimizer=opt, epochs=1, batch_size=4, rng=rng, progress=False)
    with pytest.raises(ValueError, match="labels \\(the last array\\) must be 1-D integers"):
        evaluate(model, (x, np.zeros(8)))


def test_mini_bert_learns_a_sequence_task():
    rng = np.random.default_rng(0)
    tok, mask, y = marker_sequences(512, seq_len=12, vocab=24, rng=rng)
    model = nn.MiniBERT(24, max_len=12, dim=32, heads=2, layers=1, ff_dim=64, dropout=0.0, rng=rng)
    opt = AdamW(model.parameters(), lr=3e-3)
    hist = fit(model, (tok[:400], mask[:400], y[:400]), optimizer=opt, epochs=6, batch_size=32,
               rng=rng, policy=stash.DeferredDropout(0.5), test_data=(tok[400:], mask[400:], y[400:]),
               progress=False)
    assert hist["test_accuracy"][-1] > 0.9


# -- hooks for recipes that are not classifiers (masked LM): loss_fn, steps=, eval_fn -------------

def _mlp_setup(seed=0, n=100):
    x, y = gaussian_clusters(n, dim=6, classes=3, rng=np.random.default_rng(0))
    rng = np.random.default_rng(seed)
    model = nn.MLP((6, 16, 3), rng=rng)
    return x, y, rng, model, SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_a_loss_fn_that_computes_the_default_loss_trains_identically():
    from minidd import Tensor, functional as F
    x, y, rng, model, opt = _mlp_setup()
    fit(model, (x, y), optimizer=opt, epochs=2, batch_size=32, rng=rng, progress=False)
    x, y, rng2, model2, opt2 = _mlp_setup()
    seen = []

    def loss_fn(m, batch, r):
        seen.append((m, r, len(batch)))
        return F.cross_entropy(m(Tensor(batch[0])), batch[1])
    hist = fit(model2, (x, y), optimizer=opt2, epochs=2, batch_size=32, rng=rng2, loss_fn=loss_fn, progress=False)
    a, b = model.state_dict(), model2.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(seen) == 8 and all(m is model2 and r is rng2 and n == 2 for m, r, n in seen)
    assert "train_accuracy" not in hist and len(hist["train_loss"]) == 2 and len(hist["step_loss"]) == 8


def test_steps_budget_stops_inside_an_epoch_and_eval_fn_draws_a_curve():
    x, y, rng, model, opt = _mlp_setup()          # 100 examples, batch 32: 4 steps per epoch
    calls = []

    def eval_fn(m):
        calls.append(m.training)
        return {"acc": float((m(x).data.argmax(1) == y).mean()), "n": 100}
    hist = fit(model, (x, y), optimizer=opt, steps=7, batch_size=32, rng=rng, eval_fn=eval_fn,
               eval_every=3, progress=False)
    assert [c["step"] for c in hist["curve"]] == [3, 6, 7]
    assert all(set(c) == {"step", "acc", "n"} and c["n"] == 100.0 for c in hist["curve"])
    assert len(hist["step_loss"]) == 7 and len(hist["train_loss"]) == 2   # 1 full + 1 short epoch
    assert opt.step_count == 7 and model.training and calls == [False] * 3   # eval_fn sees eval mode
    # without eval_every: once per epoch; steps = 2 epochs' worth equals epochs=2
    x, y, rng, model, opt = _mlp_setup()
    h_steps = fit(model, (x, y), optimizer=opt, steps=8, batch_size=32, rng=rng, eval_fn=eval_fn, progress=False)
    x, y, rng, model2, opt = _mlp_setup()
    h_epochs = fit(model2, (x, y), optimizer=opt, epochs=2, batch_size=32, rng=rng, progress=False)
    assert [c["step"] for c in h_steps["curve"]] == [4, 8]
    assert h_steps["train_loss"] == h_epochs["train_loss"] and h_epochs["curve"] == []
    a, b = model.state_dict(), model2.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_masked_lm_trains_through_fit_hooks():
    from minidd.study.mlm import MaskedLM, evaluate_mlm, mlm_loss
    rng = np.random.default_rng(0)
    tok, mask, _ = marker_sequences(96, seq_len=10, vocab=20, rng=rng)
    model = MaskedLM(20, max_len=10, dim=16, heads=2, layers=1, ff_dim=32, dropout=0.0, pre_ln=True, rng=rng)
    opt = AdamW(model.parameters(), lr=1e-2)
    before = evaluate_mlm(model, tok[:32], mask[:32])["mlm_loss"]
    hist = fit(model, (tok, mask), optimizer=opt, steps=30, batch_size=16, rng=rng,
               loss_fn=lambda m, batch, r: mlm_loss(m, *batch, r)[0],
               eval_fn=lambda m: evaluate_mlm(m, tok[:32], mask[:32]), eval_every=15, progress=False)
    assert [c["step"] for c in hist["curve"]] == [15, 30]
    assert hist["curve"][-1]["mlm_loss"] < before - 0.2
    assert np.mean(hist["step_loss"][-5:]) < np.mean(hist["step_loss"][:5])


def test_hook_misuse_is_refused_with_the_argument_named():
    from minidd import Tensor
    x, y, rng, model, opt = _mlp_setup()
    kw = dict(optimizer=opt, batch_size=32, rng=rng, progress=False)
    with pytest.raises(ValueError, match="exactly one of epochs= and steps="):
        fit(model, (x, y), epochs=1, steps=3, **kw)
    with pytest.raises(ValueError, match="exactly one of epochs= and steps="):
        fit(model, (x, y), **kw)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit(model, (x, y), steps=0, **kw)
    with pytest.raises(ValueError, match="eval_every needs eval_fn"):
        fit(model, (x, y), epochs=1, eval_every=2, **kw)
    with pytest.raises(ValueError, match="test_data .* custom loss_fn, pass eval_fn"):
        fit(model, (x, y), epochs=1, loss_fn=lambda m, b, r: m(Tensor(b[0])).sum(), test_data=(x, y), **kw)
    with pytest.raises(TypeError, match=r"loss_fn\(model, batch_arrays, rng\) must return a scalar Tensor, got float"):
        fit(model, (x, y), epochs=1, loss_fn=lambda m, b, r: 1.0, **kw)
    with pytest.raises(TypeError, match="eval_fn\\(model\\) must return a dict of str -> number"):
        fit(model, (x, y), epochs=1, eval_fn=lambda m: 0.5, **kw)


# -- checkpoints: kill at any step, resume bit-identically; damaged files; folders --------------

class Killed(BaseException):
    """Stands in for a kill: nothing after it runs, the checkpoint on disk is all that is left."""


def _raise_killed():
    raise Killed


class _KilledAt(SGD):
    kill_at = None
    kill = staticmethod(_raise_killed)   # the SIGKILL test swaps in a real kill

    def step(self):
        if self.step_count == self.kill_at:
            self.kill()
        super().step()


def _dropout_run(ck=None, steps=11, kill_at=None, resume=False, policy=None, every=None):
    """A model whose Dropout layers hold their own generators (not the one given to fit)."""
    x, y = gaussian_clusters(90, dim=6, classes=3, rng=np.random.default_rng(0))
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(6, 24, rng=rng), nn.ReLU(), nn.Dropout(0.3, rng=np.random.default_rng(11)),
                          nn.Linear(24, 24, rng=rng), nn.ReLU(), nn.Dropout(0.2, rng=np.random.default_rng(12)),
                          nn.Linear(24, 3, rng=rng))
    opt = _KilledAt(model.parameters(), lr=0.05, momentum=0.9)
    opt.kill_at = kill_at
    hist = fit(model, (x, y), optimizer=opt, steps=steps, batch_size=16, rng=rng, policy=policy,
               eval_fn=lambda m: {"w": float(np.abs(m[0].weight.data).sum())}, eval_every=4,
               checkpoint=ck, checkpoint_every=every, resume=resume, progress=False)
    return model, hist


def _same_run(a, b):
    (ma, ha), (mb, hb) = a, b
    sa, sb = ma.state_dict(), mb.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    for k in ha:
        if k != "seconds":
            assert ha[k] == hb[k], k


@pytest.mark.parametrize("kill_at, every", [(1, 1), (6, 1), (7, 3), (10, 2)])
def test_kill_at_any_step_then_resume_is_bit_identical_with_dropout_generators(tmp_path, kill_at, every):
    ck = tmp_path / "ck.npz"                     # 90 examples / 16: 6 steps per epoch
    straight = _dropout_run()
    with pytest.raises(Killed):
        _dropout_run(ck, kill_at=kill_at, every=every)
    _same_run(straight, _dropout_run(ck, resume=True, every=every))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "ck.npz.prev"]


def test_resume_with_sampled_deferred_dropout_is_bit_identical(tmp_path):
    ck = tmp_path / "ck.npz"

    def pol():
        return stash.DeferredDropout(0.7, selection="sample", sample_size=8, seed=9,
                                     warmup_steps=2, ramp_steps=3)
    straight = _dropout_run(policy=pol())
    with pytest.raises(Killed):
        _dropout_run(ck, kill_at=5, every=1, policy=pol())
    _same_run(straight, _dropout_run(ck, resume=True, every=1, policy=pol()))


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    ck = tmp_path / "ck.npz"
    straight = _dropout_run()
    with pytest.raises(Killed):
        _dropout_run(ck, kill_at=8, every=1)
    data = ck.read_bytes()
    ck.write_bytes(data[:len(data) // 2])      # torn newest checkpoint (step 8); .prev holds step 7
    with pytest.warns(CheckpointWarning, match=r"ck\.npz is not a readable .*resuming from the previous "
                                               r"checkpoint .*ck\.npz\.prev \(step 7\)"):
        resumed = _dropout_run(ck, resume=True, every=1)
    _same_run(straight, resumed)
    # the newest missing (a kill between the two renames): .prev is used, and said so
    with pytest.raises(Killed):
        _dropout_run(ck, kill_at=4, every=1)
    ck.unlink()
    with pytest.warns(CheckpointWarning, match=r"ck\.npz is missing; resuming from the previous checkpoint .*ck\.npz\.prev \(step 3\)"):
        _same_run(straight, _dropout_run(ck, resume=True, every=1))
    # both damaged: an error naming both files
    with pytest.raises(Killed):
        _dropout_run(ck, kill_at=4, every=1)
    ck.write_bytes(b"junk")
    (tmp_path / "ck.npz.prev").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"ck\.npz is not .*previous one is unusable too: checkpoint .*ck\.npz\.prev"):
        _dropout_run(ck, resume=True, every=1)


def test_resume_without_a_checkpoint_warns_and_starts_at_step_0(tmp_path):
    ck = tmp_path / "typo.npz"
    with pytest.warns(CheckpointWarning, match=r"no checkpoint at .*typo\.npz yet; starting from step 0") as caught:
        resumed = _dropout_run(ck, resume=True)
    assert caught[0].filename == __file__   # the warning points at fit's caller
    _same_run(_dropout_run(), resumed)


def test_fresh_run_drops_an_older_runs_previous_checkpoint_and_stale_temporaries(tmp_path):
    ck = tmp_path / "ck.npz"
    _dropout_run(ck, steps=4, every=1)
    stale = tmp_path / ".ck.npz.a1b2c3.tmp"          # left by a killed write
    stale.write_bytes(b"partial")
    (tmp_path / "ck.npz.prev").write_bytes(b"an older run")
    _dropout_run(ck, steps=2)                          # one epoch-end save at step 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_checkpoint_folder_is_made_or_refused_before_training(tmp_path):
    _dropout_run(tmp_path / "a" / "b" / "ck.npz", steps=2)
    assert (tmp_path / "a" / "b" / "ck.npz").is_file()
    (tmp_path / "file").write_text("x")
    x, y, rng, model, opt = _mlp_setup()
    with pytest.raises(OSError, match=r"checkpoint folder .*file.sub cannot be created"):
        fit(model, (x, y), optimizer=opt, epochs=1, batch_size=32, rng=rng, progress=False,
            checkpoint=tmp_path / "file" / "sub" / "ck.npz")
    with pytest.raises(IsADirectoryError, match="is a folder; give a file path"):
        fit(model, (x, y), optimizer=opt, epochs=1, batch_size=32, rng=rng, progress=False, checkpoint=tmp_path)
    assert opt.step_count == 0


def test_checkpoint_names_with_glob_characters_work(tmp_path):
    ck = tmp_path / "run[1]*.npz"
    (tmp_path / ".run[1]*.npz.x.tmp").write_bytes(b"stale")
    (tmp_path / ".other.npz.x.tmp").write_bytes(b"someone else's")
    _dropout_run(ck, steps=3, every=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.x.tmp", "run[1]*.npz", "run[1]*.npz.prev"]


_KILL_SCRIPT = """
import importlib.util, os, signal, sys
import numpy as np
spec = importlib.util.spec_from_file_location("t", sys.argv[1]); t = importlib.util.module_from_spec(spec)
spec.loader.exec_module(t)
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[3] == "step":                      # killed in the middle of step 5
    t._KilledAt.kill = staticmethod(die)
    t._dropout_run(sys.argv[2], kill_at=5, every=1)
else:                                          # killed half-way through writing the 4th checkpoint
    savez, calls = np.savez, []
    def torn(f, **arrays):
        calls.append(1)
        if len(calls) == 4:
            f.write(b"PK\\x03\\x04 half a checkpoint"); f.flush(); die()
        savez(f, **arrays)
    np.savez = torn
    t._dropout_run(sys.argv[2], every=1)
"""


@pytest.mark.parametrize("where", ["step", "write"])
def test_sigkill_then_resume_is_bit_identical_and_cleans_up(tmp_path, where):
    import signal
    import subprocess
    import sys
    ck = tmp_path / "ck.npz"
    import os
    from pathlib import Path
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}   # this checkout's minidd
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, __file__, str(ck), where],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = sorted(p.name for p in tmp_path.iterdir())
    if where == "write":
        assert len(left) == 3 and left[0].startswith(".ck.npz.") and left[0].endswith(".tmp")
    _same_run(_dropout_run(), _dropout_run(ck, resume=True, every=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "ck.npz.prev"]


def test_checkpoint_path_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _dropout_run("~/runs/ck.npz", steps=2)
    assert (tmp_path / "runs" / "ck.npz").is_file() and not (tmp_path / "~").exists()

"""A checkpoint (or any file minidd writes) at a symbolic link: the link is followed, its target
holds the newest checkpoint, the link stays a link, and resuming through it works."""
import json
import os

import numpy as np

from minidd import atomic, nn
from minidd.checkpoint import read_npz
from minidd.data import gaussian_clusters
from minidd.optim import SGD
from minidd.train import fit


def _fit(checkpoint, epochs, resume=False):
    x, y = gaussian_clusters(64, dim=4, classes=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    model = nn.MLP((4, 8, 2), rng=rng)
    return fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=epochs,
               batch_size=16, rng=rng, checkpoint=str(checkpoint), resume=resume, progress=False)


def _epoch(path):
    return json.loads(str(read_npz(path)["meta"]))["epoch"]


def test_a_checkpoint_link_is_followed_and_its_target_is_never_stale(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "ck.npz"
    link = tmp_path / "ck.npz"
    link.symlink_to(target)                      # dangling until the first save
    _fit(link, epochs=1)
    assert link.is_symlink() and target.is_file() and _epoch(target) == 1
    _fit(link, epochs=2, resume=True)
    assert link.is_symlink() and os.path.samefile(link, target) and _epoch(target) == 2
    assert (tmp_path / "store" / "ck.npz.prev").is_file() and not (tmp_path / "ck.npz.prev").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "store"]


def test_resume_through_a_link_equals_resume_through_the_target(tmp_path):
    (tmp_path / "a").mkdir()
    _fit(tmp_path / "a" / "ck.npz", epochs=1)
    direct = _fit(tmp_path / "a" / "ck.npz", epochs=2, resume=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "ln.npz").symlink_to(tmp_path / "b" / "ck.npz")
    _fit(tmp_path / "ln.npz", epochs=1)
    linked = _fit(tmp_path / "ln.npz", epochs=2, resume=True)
    assert direct["train_loss"] == linked["train_loss"]


def test_every_atomic_write_follows_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic.atomic_write(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    model = nn.MLP((2, 2), rng=np.random.default_rng(0))
    (tmp_path / "m.npz").symlink_to(tmp_path / "weights.npz")
    model.save(tmp_path / "m.npz")
    assert (tmp_path / "m.npz").is_symlink() and (tmp_path / "weights.npz").is_file()

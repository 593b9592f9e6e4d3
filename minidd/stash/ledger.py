"""The byte ledger: what the stash holds right now, and the most it has held."""
from __future__ import annotations

from dataclasses import dataclass

from .entries import StashEntry
from .roles import WEIGHT_GRAD_INPUT


@dataclass(frozen=True)
class LedgerRow:
    """One live stash entry, as plain data."""

    layer: str
    role: str
    kind: str
    shape: tuple
    dtype: str
    nbytes: int
    dense_nbytes: int
    numel: int
    nonzero: int | None
    kept: int
    target_kept: int
    refs: int
    op: str = ""

    @property
    def sparsified(self) -> bool:
        """Whether the policy dropped non-zero values of this array (it is approximate)."""
        return self.nonzero is not None and self.kept < self.nonzero

    @property
    def natural_sparsity(self) -> float | None:
        """Fraction of exact zeros in the array as saved (``None`` if the policy did not look)."""
        if self.nonzero is None or self.numel == 0:
            return None
        return 1.0 - self.nonzero / self.numel

    @property
    def compression(self) -> float:
        return self.dense_nbytes / self.nbytes if self.nbytes else float("inf")


class Ledger:
    """Counts every live stash entry: exact bytes (payload plus descriptor), current and peak.

    ``current`` and ``peak`` are kept up to date at every save and release; the breakdowns
    (:meth:`rows`, :meth:`by`) are computed from the live entries when asked.
    """

    def __init__(self):
        self._live: dict[int, StashEntry] = {}
        self.current = 0
        self.peak = 0

    def add(self, entry: StashEntry) -> None:
        self._live[id(entry)] = entry
        self.current += entry.nbytes
        if self.current > self.peak:
            self.peak = self.current

    def remove(self, entry: StashEntry) -> None:
        if self._live.pop(id(entry), None) is not None:
            self.current -= entry.nbytes

    def reset_peak(self) -> None:
        """Start a new measurement window (for example a training step)."""
        self.peak = self.current

    def __len__(self):
        return len(self._live)

    def rows(self) -> list[LedgerRow]:
        """The live entries, in the order they were saved."""
        return [LedgerRow(e.layer, e.role, e.kind, e.shape, e.dtype.name, e.nbytes, e.dense_nbytes,
                          e.numel, e.nonzero, e.kept, e.target_kept, e.refs, e.op or "")
                for e in self._live.values()]

    def by(self, key: str) -> dict[str, dict]:
        """Totals of the live entries grouped by ``"layer"``, ``"role"``, ``"kind"`` or ``"op"``
        (the op that saved them)."""
        if key not in ("layer", "role", "kind", "op"):
            raise ValueError(f"Ledger.by: key must be 'layer', 'role', 'kind' or 'op', got {key!r}")
        out: dict[str, dict] = {}
        for r in self.rows():
            t = out.setdefault(getattr(r, key), {"nbytes": 0, "dense_nbytes": 0, "entries": 0})
            t["nbytes"] += r.nbytes
            t["dense_nbytes"] += r.dense_nbytes
            t["entries"] += 1
        return out

    def sparsified(self) -> list[tuple[str, str, str]]:
        """``(layer, op, role)`` of every live entry the policy made approximate, in save order:
        the weight-gradient inputs deferred dropout sparsified and, with its ``exact_ops``
        option, the exact stashes it sparsified too."""
        return [(r.layer, r.op, r.role) for r in self.rows() if r.sparsified]

    def summary(self) -> str:
        """A plain-text table of the live entries and the totals per role."""
        rows = self.rows()
        head = f"{'layer':<28} {'role':<18} {'kind':<8} {'shape':<18} {'bytes':>11} {'ratio':>6} {'zeros':>6}"
        lines = [head, "-" * len(head)]
        for r in rows:
            z = "" if r.natural_sparsity is None else f"{r.natural_sparsity:.0%}"
            lines.append(f"{r.layer[:28]:<28} {r.role:<18} {r.kind:<8} {str(r.shape)[:18]:<18} "
                         f"{r.nbytes:>11,} {r.compression:>5.2f}x {z:>6}")
        lines.append("-" * len(head))
        for role, t in self.by("role").items():
            ratio = t["dense_nbytes"] / t["nbytes"] if t["nbytes"] else float("inf")
            lines.append(f"{'total ' + role:<75} {t['nbytes']:>11,} {ratio:>5.2f}x")
        lines.append(f"{'total (current)':<75} {self.current:>11,}")
        lines.append(f"{'peak':<75} {self.peak:>11,}")
        exact = sorted({f"{op} ({layer})" for layer, op, role in self.sparsified() if role != WEIGHT_GRAD_INPUT})
        if exact:
            lines.append("sparsified exact stashes (dX approximate there): " + ", ".join(exact))
        return "\n".join(lines)

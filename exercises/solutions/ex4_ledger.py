"""Exercise 4 (tutorial stop 9): the ledger's bookkeeping."""


class MiniLedger:
    """Bytes of the live stash entries: ``current``, ``peak`` and the total per role."""

    def __init__(self):
        self.live = {}
        self.current = 0
        self.peak = 0

    def add(self, entry) -> None:
        self.live[id(entry)] = entry
        self.current += entry.nbytes
        self.peak = max(self.peak, self.current)

    def remove(self, entry) -> None:
        if self.live.pop(id(entry), None) is not None:
            self.current -= entry.nbytes

    def reset_peak(self) -> None:
        self.peak = self.current

    def by_role(self) -> dict:
        totals = {}
        for e in self.live.values():
            totals[e.role] = totals.get(e.role, 0) + e.nbytes
        return totals

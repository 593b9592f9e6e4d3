"""Exercise 4 (tutorial stop 9): the ledger's bookkeeping.

Write the methods.  Each ``entry`` has ``nbytes`` (what it costs) and ``role``; the same entry
may be removed twice (count it once), and ``peak`` is the most ``current`` has been since the
last ``reset_peak()``.  Check: ``python -m pytest exercises/check_exercises.py -k ex4``.
"""


class MiniLedger:
    """Bytes of the live stash entries: ``current``, ``peak`` and the total per role."""

    def __init__(self):
        self.live = {}
        self.current = 0
        self.peak = 0

    def add(self, entry) -> None:
        raise NotImplementedError("exercise 4: book the entry, update current and peak")

    def remove(self, entry) -> None:
        raise NotImplementedError("exercise 4: unbook the entry (once)")

    def reset_peak(self) -> None:
        raise NotImplementedError("exercise 4: start a new peak window")

    def by_role(self) -> dict:
        raise NotImplementedError("exercise 4: total nbytes per role")

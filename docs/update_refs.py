"""Move the tutorial's ``path:first-last`` (``anchor``) line references to where their anchors are now.

Code moves; the tutorial's references should follow it.  For each reference whose anchor is no
longer on its first line, the range is shifted (same length) to the anchor's occurrence nearest to
the old first line.  Run from anywhere: ``python docs/update_refs.py``; it prints what it moved and
rewrites ``docs/tutorial.md`` only when something moved.  Read the moved stops afterwards: a range
whose code grew or shrank needs its end adjusted by hand.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
REFERENCE = re.compile(r"`([\w./]+\.py):(\d+)-(\d+)` \(`([^`]+)`\)")


def updated(text: str) -> tuple[str, list[str]]:
    """``text`` with every stale reference moved, and one line per move (or per anchor not found)."""
    said = []

    def move(m: re.Match) -> str:
        path, first, last, anchor = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        lines = (ROOT / path).read_text().splitlines()
        if first <= len(lines) and anchor in lines[first - 1]:
            return m.group(0)
        hits = [i + 1 for i, line in enumerate(lines) if anchor in line]
        if not hits:
            said.append(f"{path}: anchor {anchor!r} not found: fix this reference by hand")
            return m.group(0)
        new = min(hits, key=lambda h: abs(h - first))
        said.append(f"{path}:{first}-{last} -> {new}-{new + last - first} ({anchor})")
        return f"`{path}:{new}-{new + last - first}` (`{anchor}`)"

    return REFERENCE.sub(move, text), said


def main() -> int:
    text = TUTORIAL.read_text()
    new, said = updated(text)
    print("\n".join(said) or "every reference is current")
    if new != text:
        TUTORIAL.write_text(new)
    return 1 if any("not found" in s for s in said) else 0


if __name__ == "__main__":
    raise SystemExit(main())

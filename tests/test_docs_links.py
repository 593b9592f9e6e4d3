"""Every relative link in the README and the docs pages reaches a file or folder of the checkout."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "hardware" / "README.md",
         ROOT / "benchmarks" / "README.md", ROOT / "examples" / "README.md"]


def broken_links(page: Path) -> list[str]:
    """Relative markdown link targets of ``page`` (anchors stripped) that do not exist."""
    targets = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]
    return [t for t in local if t and not (page.parent / t).exists()]


def test_every_relative_link_resolves():
    bad = {p.relative_to(ROOT).as_posix(): broken_links(p) for p in PAGES if p.exists()}
    assert not {p: b for p, b in bad.items() if b}


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "a.md").write_text("[ok](a.md) [web](https://x.org) [anchor](#x) [gone](docs/nope.md#y)")
    assert broken_links(tmp_path / "a.md") == ["docs/nope.md"]

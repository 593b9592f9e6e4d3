"""The README's Layout section names every module of the packages it describes, and nothing else."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# folders whose modules the layout lists one by one (subpackages such as functional/ and nn/ are
# named as a whole)
LISTED = ("minidd", "minidd/study", "minidd/stash", "hardware")


def layout_block(text: str) -> str:
    """The code block that follows the ``layout:`` marker."""
    match = re.search(r"<!-- layout:.*?-->\s*```\n(.*?)```", text, re.S)
    assert match, "README.md: no code block after the '<!-- layout: ... -->' marker"
    return match.group(1)


def missing_and_unknown(block: str, root: Path) -> tuple[list, list]:
    words = set(re.findall(r"[A-Za-z_][\w]*(?:\.py)?/?", block))
    modules = {f"{folder}/{p.name}" for folder in LISTED for p in (root / folder).glob("*.py")
               if not p.name.startswith("__")}
    packages = {f"{folder}/{p.name}" for folder in LISTED for p in (root / folder).iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    named = lambda path: any(w.rstrip("/").removesuffix(".py") == Path(path).stem for w in words)  # noqa: E731
    missing = sorted(p for p in modules | packages if not named(p))
    existing = {Path(p).name for p in modules} | {Path(p).name + "/" for p in packages}
    unknown = sorted(w for w in words if w.endswith(".py") and w not in existing
                     and not (root / w).exists())
    return missing, unknown


def test_the_layout_names_every_module_and_only_existing_ones():
    missing, unknown = missing_and_unknown(layout_block((ROOT / "README.md").read_text()), ROOT)
    assert not missing, f"README.md Layout leaves out {missing}"
    assert not unknown, f"README.md Layout names files that do not exist: {unknown}"


def test_the_layout_check_sees_a_missing_module(tmp_path):
    (tmp_path / "minidd").mkdir()
    for folder in LISTED[1:]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "minidd" / "train.py").write_text("")
    (tmp_path / "minidd" / "extra.py").write_text("")
    missing, unknown = missing_and_unknown("minidd/ train.py gone.py study/ stash/", tmp_path)
    assert missing == ["minidd/extra.py"]
    assert unknown == ["gone.py"]

"""config.env.example and the README's settings table, written from the one declaration (SPECS).

    python3 -m protovideo.runtime.settings_docs            # rewrite both from SPECS
    python3 -m protovideo.runtime.settings_docs --check    # exit 1 (and say which) when either is stale

tests/test_settings_example.py runs the check, so a setting added to SPECS without running this
fails the suite.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from protovideo.runtime.settings import SPECS

ROOT = Path(__file__).resolve().parents[2]
TABLE_START = ("<!-- settings table: written from SPECS (protovideo/runtime/settings.py) by "
               "`python3 -m protovideo.runtime.settings_docs`; edit SPECS, not this table -->")
TABLE_END = "<!-- end of the settings table -->"


def accepts(parse: Callable[[str], Any]) -> str:
    """What a parser accepts, in words (its `accepts` mark, else the type it returns)."""
    from protovideo.runtime.settings import value_type
    return getattr(parse, "accepts", None) or value_type(parse).__name__


def example_file() -> str:
    """The text of config.env.example."""
    lines = ["# ProtoVideo worker settings. Copy to config.env (or .env) and uncomment what you change.",
             "# Every setting is shown with its default, commented out, so a copied file changes nothing",
             "# and leaves the defaults of a systemd unit (Environment=, e.g. LOG_FILE=) in force.",
             "# The environment wins over .env, which wins over config.env. A name that is no setting",
             "# stops the worker at start (a typo is never silently ignored).",
             "# Written from protovideo/runtime/settings.py by `python3 -m protovideo.runtime.settings_docs`.",
             ""]
    for name, (_parse, default, meaning) in SPECS.items():
        lines.append(f"# {meaning}")
        lines.append(f"#{name}={default}")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no column break, no HTML tag)."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def settings_table() -> str:
    """The README's settings table (Markdown), between its two marker lines."""
    lines = [TABLE_START, "| setting | default | value | meaning |", "|---|---|---|---|"]
    for name, (parse, default, meaning) in SPECS.items():
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{name}` | {_cell(shown)} | {_cell(accepts(parse))} | {_cell(meaning)} |")
    lines.append(TABLE_END)
    return "\n".join(lines)


def readme_with_table(readme: str) -> str:
    """The README with its settings table (the text between the markers) replaced."""
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError("README.md has no settings table markers "
                         f"({TABLE_START[:40]}... and {TABLE_END})")
    return readme[:start] + settings_table() + readme[end + len(TABLE_END):]


def stale(root: Path = ROOT) -> list[str]:
    """The files that do not say what SPECS says ([] when both agree)."""
    found = []
    if (root / "config.env.example").read_text(encoding="utf-8") != example_file():
        found.append("config.env.example")
    readme = (root / "README.md").read_text(encoding="utf-8")
    if readme_with_table(readme) != readme:
        found.append("README.md")
    return found


def write(root: Path = ROOT) -> list[str]:
    """Rewrite what is stale; the names of the files written."""
    changed = stale(root)
    if "config.env.example" in changed:
        (root / "config.env.example").write_text(example_file(), encoding="utf-8")
    if "README.md" in changed:
        readme = root / "README.md"
        readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for name in found:
            print(f"{name} is stale: run python3 -m protovideo.runtime.settings_docs", file=sys.stderr)
        return 1 if found else 0
    for name in write():
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One declaration per setting (settings.SPECS): the Settings fields, config.env.example and the
README's settings table all come from it and agree with it."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from protovideo.runtime import settings_docs
from protovideo.runtime.settings import SPECS, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_config_example_is_current_and_loads(tmp_path):
    text = (ROOT / "config.env.example").read_text()
    assert text == settings_docs.example_file(), "stale: run python3 -m protovideo.runtime.settings_docs"
    (tmp_path / "config.env").write_text(text)
    defaults = load_settings({}, cwd=tmp_path, read_files=False)
    assert load_settings({}, cwd=tmp_path) == defaults       # a copied example changes nothing
    assert all(f"\n#{name}=" in text for name in SPECS)
    # every line uncommented: each default is valid and means what the defaults mean
    (tmp_path / "config.env").write_text(re.sub(r"^#([A-Z][A-Z0-9_]*=)", r"\1", text, flags=re.M))
    assert load_settings({}, cwd=tmp_path) == defaults


def test_readme_table_is_the_declaration():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(settings_docs.TABLE_START):readme.index(settings_docs.TABLE_END)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    # one row per setting, in the declaration's order, each with its default and meaning
    assert [row.split("`")[1] for row in rows] == list(SPECS)
    for row, (name, (_parse, default, meaning)) in zip(rows, SPECS.items()):
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[1] == (f"`{default}`" if default else "(empty)"), name
        assert cells[3].replace("&lt;", "<").replace("\\|", "|") == meaning, name


def test_the_check_command_finds_a_stale_file_and_the_write_command_mends_it(tmp_path):
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())
    (tmp_path / "config.env.example").write_text((ROOT / "config.env.example").read_text())
    assert settings_docs.stale(tmp_path) == []
    example = tmp_path / "config.env.example"
    example.write_text(example.read_text().replace("#MAX_WORKERS=2", "#MAX_WORKERS=3"))
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| `JOB_TIMEOUT` | `1800` |", "| `JOB_TIMEOUT` | `99` |"))
    assert settings_docs.stale(tmp_path) == ["config.env.example", "README.md"]
    assert settings_docs.write(tmp_path) == ["config.env.example", "README.md"]
    assert settings_docs.stale(tmp_path) == []
    assert "#MAX_WORKERS=2\n" in example.read_text()
    # the repository's own copies pass the command's check
    check = subprocess.run([sys.executable, "-m", "protovideo.runtime.settings_docs", "--check"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr


def test_settings_fields_are_the_declaration_typed_by_their_parsers():
    assert [f.name for f in fields(Settings)] == list(SPECS)
    types = {f.name: f.type for f in fields(Settings)}
    assert types["MAX_WORKERS"] is int and types["CACHE_ENABLED"] is bool
    assert types["POLL_INTERVAL"] is float and types["JOB_SOURCE"] is str
    defaults = load_settings({}, read_files=False)
    assert defaults.MAX_WORKERS == 2 and defaults.CACHE_ENABLED is True
    assert defaults.PIPER_THREADS == 0              # "auto"
    assert defaults.replace(MAX_WORKERS=5).MAX_WORKERS == 5

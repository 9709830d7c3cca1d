"""config.env.example lists every setting with its default (kept in sync with settings.SPECS)."""
from __future__ import annotations

import re
from pathlib import Path

from protovideo.runtime.settings import SPECS, example_file, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_config_example_is_current_and_loads(tmp_path):
    text = (ROOT / "config.env.example").read_text()
    assert text == example_file(), "regenerate: python -c 'from protovideo.runtime.settings import example_file; ...'"
    (tmp_path / "config.env").write_text(text)
    defaults = load_settings({}, cwd=tmp_path, read_files=False)
    assert load_settings({}, cwd=tmp_path) == defaults       # a copied example changes nothing
    assert all(f"\n#{name}=" in text for name in SPECS)
    # every line uncommented: each default is valid and means what the defaults mean
    (tmp_path / "config.env").write_text(re.sub(r"^#([A-Z][A-Z0-9_]*=)", r"\1", text, flags=re.M))
    assert load_settings({}, cwd=tmp_path) == defaults


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SPECS if f"`{name}`" not in readme]
    assert not missing, f"README settings table lacks {missing}"

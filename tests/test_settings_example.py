"""config.env.example lists every setting with its default (kept in sync with settings.SPECS)."""
from __future__ import annotations

from pathlib import Path

from protovideo.runtime.settings import SPECS, example_file, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_config_example_is_current_and_loads(tmp_path):
    text = (ROOT / "config.env.example").read_text()
    assert text == example_file(), "regenerate: python -c 'from protovideo.runtime.settings import example_file; ...'"
    (tmp_path / "config.env").write_text(text)
    settings = load_settings({}, cwd=tmp_path)
    assert settings.MAX_WORKERS >= 1


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SPECS if f"`{name}`" not in readme]
    assert not missing, f"README settings table lacks {missing}"

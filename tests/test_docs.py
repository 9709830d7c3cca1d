"""The documentation a clone carries is whole: every relative link of README.md and docs/*.md
resolves to a file inside the repository (and a `#section` to a heading of that file), and the
job-format reference (docs/JOB_FORMAT.md) names every field and alias the job model reads, with
examples that are valid jobs."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+\s+(.*)$", prose(path.read_text(encoding="utf-8")), flags=re.M)
    return {slug(h) for h in headings}


def relative_links(doc: Path) -> list[str]:
    return [target for target in LINK.findall(prose(doc.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]   # http:, https:, mailto:, file:


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc):
    broken = []
    for target in relative_links(doc):
        file_part, _, fragment = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if ROOT != path and ROOT not in path.parents:
            broken.append(f"{target}: outside the repository")
        elif not path.exists():
            broken.append(f"{target}: no such file")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target}: no heading #{fragment} in {path.name}")
    assert not broken, f"{doc.name}: {broken}"


def test_the_readme_links_the_job_format_reference():
    links = relative_links(ROOT / "README.md")
    assert "docs/JOB_FORMAT.md" in links and "docs/MCP.md" in links
    assert not [link for link in links if link.startswith("../")]


def spec_field_names() -> set[str]:
    """Every field name and alias of the job schema (jobmodel/schema.py): each object's fields and
    their other spellings, the plug-ins' fields among them."""
    from generators.plugins import load_all
    from jobmodel.schema import Audio, Image, TextOverlay, Voice, job_models
    from jobmodel.schema_core import spellings
    load_all()
    models = job_models()
    names: set[str] = set()
    for model in (models.Job, models.Scene, models.Video, models.Subtitles, Voice, Image, Audio, TextOverlay,
                  *models.overlays.values()):
        names.update(spellings(model))
    return names


def test_the_reference_names_every_field_and_alias():
    names = spec_field_names()
    assert {"narration_text", "promptImage", "global_subtitle_config", "cfgWeight"} <= names
    text = (ROOT / "docs" / "JOB_FORMAT.md").read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in text)
    assert not missing, f"fields of jobmodel/spec.py not in docs/JOB_FORMAT.md: {missing}"


def test_the_reference_examples_are_valid_jobs():
    from jobmodel.validate import validate_job
    from job_parsing import PROVIDERS
    text = (ROOT / "docs" / "JOB_FORMAT.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 4
    for block in blocks:
        problems = validate_job(json.loads(block), base_dir=ROOT / "examples", **PROVIDERS)
        # the examples that name files of their own (clips/harbour.mp4) are valid but for those
        assert all("not found" in p["message"] for p in problems), problems

"""Right-to-left text is set right to left, shaped, whether or not Pillow's Raqm layout can run
(it needs FriBiDi from the system; without it python-bidi and arabic-reshaper order and join)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import features

from generators import text_layout
from generators.text_render import render_text_block

TEXTS = {"hebrew": "שלום עולם", "arabic": "مرحبا بالعالم"}


def _ink(text: str) -> np.ndarray:
    return np.asarray(render_text_block(text, 40, "white", 600))[..., 3] > 128


def _mismatch(a: np.ndarray, b: np.ndarray) -> float:
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, b = a[:h, :w], b[:h, :w]
    return float((a ^ b).sum()) / max(1, int((a | b).sum()))


@pytest.fixture
def layout(monkeypatch):
    def use(raqm: bool):
        monkeypatch.setattr(text_layout, "RAQM", raqm)
        text_layout.font.cache_clear()
    yield use
    text_layout.font.cache_clear()


RAQM = features.check("raqm")
IN_CI = bool(os.environ.get("CI"))   # CI installs libfribidi0 (.ci/run): there a missing Raqm fails


@pytest.mark.skipif(not RAQM and not IN_CI, reason="this machine's Pillow has no Raqm to compare with")
@pytest.mark.parametrize("name", TEXTS)
def test_without_raqm_right_to_left_text_looks_as_with_it(layout, name, monkeypatch):
    assert RAQM, "Pillow's Raqm cannot load FriBiDi: .ci/run must install libfribidi0"
    layout(True)
    shaped = _ink(TEXTS[name])
    layout(False)
    fallback = _ink(TEXTS[name])
    assert _mismatch(shaped, fallback) < 0.1
    # and not what Pillow's basic layout alone would draw (letters left to right, unjoined)
    monkeypatch.setattr(text_layout, "_shown", lambda run: run)
    naive = _ink(TEXTS[name])
    assert _mismatch(shaped, naive) > 0.3

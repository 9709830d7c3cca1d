"""The ETA model learns from a new report at once (it does not keep 'unknown' for REFRESH_S)."""
from __future__ import annotations

import json

from protovideo.service.api.eta import EtaModel


def test_a_new_report_is_used_by_the_next_estimate(tmp_path):
    model = EtaModel(tmp_path)
    assert model.expected_total(4) is None          # no report yet: unknown
    (tmp_path / "first.json").write_text(json.dumps({"total_time": 6.0, "scenes": [{}, {}, {}]}))
    assert model.expected_total(4) == 8.0           # 2 s per scene, learnt at once
    assert model.estimate(4, None) == 8.0

"""The one backoff rule: doubling from base, capped, jittered, never sooner than Retry-After."""
import random

import pytest

from jobmodel.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_below_each_step():
    wait = Backoff(base=1.0, cap=10.0, rng=random.Random(7))
    for attempt, step in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (60, 10.0)):
        delays = [wait.delay(attempt) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > step / 10   # really jittered, not one value


def test_no_jitter_gives_exact_delays():
    wait = Backoff(base=0.5, cap=60.0, jitter=0)
    assert [wait.delay(a) for a in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert wait.delay(10_000) == 60.0   # no overflow for absurd attempt counts


def test_retry_after_is_a_floor_but_still_capped():
    wait = Backoff(base=1.0, cap=30.0, jitter=0)
    assert wait.delay(1, retry_after=9) == 9
    assert wait.delay(1, retry_after=3600) == 30.0
    assert wait.delay(3, retry_after=0.1) == 4.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Backoff(base=1.0, cap=5.0, jitter=1.5)


def test_every_retry_site_uses_the_shared_rule():
    """No module computes its own exponential delay: outside jobmodel/backoff.py there is
    no `2 ** <variable>` in the code (constants such as 2**20 are sizes, not delays)."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("protovideo", "generators", "cache", "jobmodel"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "backoff.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and \
                        isinstance(node.left, ast.Constant) and node.left.value == 2 and \
                        not isinstance(node.right, ast.Constant):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []

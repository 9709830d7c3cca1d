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


def _grows_its_own_delay(node) -> bool:
    """`2 ** <variable>`, or a variable doubled in place (`pause *= 2`, `pause = min(pause * 2, cap)`)."""
    import ast
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return (isinstance(node.left, ast.Constant) and node.left.value == 2
                and not isinstance(node.right, ast.Constant))
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Mult) and isinstance(node.value, ast.Constant) and node.value.value == 2
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = ast.unparse(node.targets[0])
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Mult):
                sides = (sub.left, sub.right)
                if any(isinstance(s, ast.Constant) and s.value == 2 for s in sides) and \
                        any(ast.unparse(s) == target for s in sides):
                    return True
    return False


def test_the_check_below_sees_each_way_of_growing_a_delay():
    import ast
    for code in ("d = base * 2 ** attempt", "pause *= 2", "pause = min(pause * 2, 1.0)",
                 "self.wait = 2 * self.wait"):
        assert any(_grows_its_own_delay(n) for n in ast.walk(ast.parse(code))), code
    for code in ("size = 2 ** 20", "half = width * 2", "pause = LOCK_BACKOFF.delay(attempt)"):
        assert not any(_grows_its_own_delay(n) for n in ast.walk(ast.parse(code))), code


def test_every_retry_site_uses_the_shared_rule():
    """No module computes its own exponential delay: outside jobmodel/backoff.py there is
    no `2 ** <variable>` in the code (constants such as 2**20 are sizes, not delays) and no
    variable doubled in place (`pause = min(pause * 2, cap)`)."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("protovideo", "generators", "storage", "cache", "jobmodel"):
        for path in (root / folder).rglob("*.py"):
            if path.name == "backoff.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if _grows_its_own_delay(node):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []

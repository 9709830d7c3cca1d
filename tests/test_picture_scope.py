"""Shared picture planes with several jobs in one process (MAX_JOBS): each job (its
scenes.job_scope) keeps its own last pictures and forgets only its own when it ends."""
from __future__ import annotations

import contextvars

from generators import scenes
from generators.scenes.still import KEEP, shared_planes


class Loads:
    """A loader per key that counts how often each key was loaded."""

    def __init__(self):
        self.count: dict[tuple, int] = {}

    def __call__(self, key: tuple):
        def load():
            self.count[key] = self.count.get(key, 0) + 1
            return (f"planes of {key}",)
        return load


class Job:
    """One job's rendering context, as render_job holds it (scenes.job_scope), entered and
    left explicitly so that two can be open at once in one test."""

    def __init__(self, loads: Loads):
        self.loads = loads
        self.context = contextvars.copy_context()
        self.scope = scenes.job_scope()
        self.context.run(self.scope.__enter__)

    def picture(self, key: tuple):
        return self.context.run(shared_planes, key, self.loads(key))

    def end(self) -> None:
        self.context.run(self.scope.__exit__, None, None, None)


def test_one_job_ending_keeps_the_pictures_of_a_job_still_running():
    loads = Loads()
    a, b = Job(loads), Job(loads)
    a.picture(("a.png",))
    b.picture(("b.png",))
    a.end()
    b.picture(("b.png",))           # job b's next transition wants its picture again
    assert loads.count == {("a.png",): 1, ("b.png",): 1}
    again = Job(loads)
    again.picture(("a.png",))        # job a's pictures went with it
    assert loads.count[("a.png",)] == 2
    b.end()
    again.end()


def test_a_picture_both_jobs_use_stays_until_neither_keeps_it():
    loads = Loads()
    a, b = Job(loads), Job(loads)
    a.picture(("same.png",))
    b.picture(("same.png",))         # shared: loaded once
    a.end()
    b.picture(("same.png",))
    assert loads.count == {("same.png",): 1}
    b.end()
    c = Job(loads)
    c.picture(("same.png",))
    assert loads.count == {("same.png",): 2}
    c.end()


def test_a_job_with_many_pictures_does_not_push_out_another_job_s():
    loads = Loads()
    busy, quiet = Job(loads), Job(loads)
    quiet.picture(("quiet.png",))
    for n in range(3 * KEEP):
        busy.picture((f"busy{n}.png",))
    quiet.picture(("quiet.png",))
    assert loads.count[("quiet.png",)] == 1
    busy.picture(("busy0.png",))     # beyond its own KEEP: made again
    assert loads.count[("busy0.png",)] == 2
    busy.end()
    quiet.end()


def test_the_threads_making_a_job_s_pieces_belong_to_that_job():
    """The piece queue's threads run in a copy of the job's context: what they load is the
    job's (a thread of its own, outside any job, would be no job's)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    seen = {}
    with scenes.job_scope() as job:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(contextvars.copy_context().run,
                        lambda: seen.update(copied=scenes.current_job())).result()
        bare = threading.Thread(target=lambda: seen.update(bare=scenes.current_job()))
        bare.start()
        bare.join()
    assert seen == {"copied": job, "bare": None} and scenes.current_job() is None

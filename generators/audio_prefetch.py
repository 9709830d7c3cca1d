"""Sound files decoded for the soundtrack as soon as each scene's narration is made, on a thread of
their own, so that the mix after the last scene's narration only decodes what came last.

    early = AudioPrefetch()
    early.start(path, what="narration")           # as each scene's speech (or music) is known
    mix = build_soundtrack(..., decode=early.decode)   # the decoded samples, or decoded now
    early.close()
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .audio import decode_audio


class AudioPrefetch:
    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio-decode")
        self._decoded: dict[tuple, Future] = {}

    @staticmethod
    def _key(path: Path, kwargs: dict) -> tuple:
        return (str(path), tuple(sorted(kwargs.items())))

    def start(self, path: Path | None, **kwargs) -> None:
        """Decode `path` (decode_audio's arguments) in the background, once."""
        if path is None:
            return
        key = self._key(path, kwargs)
        if key not in self._decoded:
            self._decoded[key] = self._pool.submit(decode_audio, path, **kwargs)

    def decode(self, path: Path, **kwargs) -> np.ndarray:
        """decode_audio(path, **kwargs): the early result when one was started (its error, if it
        failed, is raised here), else decoded now (build_soundtrack never changes it in place)."""
        future = self._decoded.get(self._key(path, kwargs))
        if future is None:
            return decode_audio(path, **kwargs)
        return future.result()

    def close(self) -> None:
        for future in self._decoded.values():
            future.cancel()
        self._pool.shutdown(wait=True)
        self._decoded.clear()

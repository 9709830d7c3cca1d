"""Subtitle files beside the video: `<name>.srt` (caption lines) and `<name>.vtt` (lines with
the time of every word as WebVTT cue timestamps, `<00:00:01.200>`), written atomically
(0666 less the umask, like the video)."""
from __future__ import annotations

from pathlib import Path

from jobmodel.files import write_atomic

from .subtitles import Cue
from .word_timing import separator


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(text: str) -> str:
    # a blank line ends a cue in both formats; '-->' would start a timing line
    return " ".join(text.split()).replace("-->", "->")


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt_text(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{_stamp(c.start, ',')} --> {_stamp(max(c.end, c.start + 0.001), ',')}\n{_clean(c.text)}\n"
              for n, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def vtt_text(cues: list[Cue]) -> str:
    out = ["WEBVTT", ""]
    for c in cues:
        end = max(c.end, c.start + 0.001)
        out.append(f"{_stamp(c.start, '.')} --> {_stamp(end, '.')}")
        if c.words:
            line, plain = "", ""
            for i, w in enumerate(c.words):
                text = _clean(w.text)
                line += separator(plain, text)
                plain += separator(plain, text) + text
                if i and c.start < w.start < end:  # timestamps strictly inside the cue
                    line += f"<{_stamp(w.start, '.')}>"
                line += _vtt_text(text)
            out.append(line)
        else:
            out.append(_vtt_text(_clean(c.text)))
        out.append("")
    return "\n".join(out)


def write_sidecars(video: Path, cues: list[Cue]) -> list[Path]:
    """`<video stem>.srt` and `.vtt` beside `video`; returns their paths."""
    video = Path(video)
    srt, vtt = video.with_suffix(".srt"), video.with_suffix(".vtt")
    write_atomic(srt, srt_text(cues))
    write_atomic(vtt, vtt_text(cues))
    return [srt, vtt]

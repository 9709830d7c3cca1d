"""The part of the frame that titles and captions use: clear of what players draw over a video,
and so depending on the frame's aspect.

Vertical video (9:16, and anything at least 3:2 taller than wide) is watched full screen in apps
that draw their own interface over it: tabs and search at the top, a column of buttons (like,
comment, share) on the right, the account name, description and call to action at the bottom.
Two platforms publish the margins to keep clear on a 1080x1920 frame:

- Google's safe zone of vertical video ads on YouTube (Google Ads help, "About video ad specs",
  support.google.com/google-ads/answer/13547298; in pixels as Shotstack's guide "Vertical video
  safe zones" measures it): 288 px at the top, 672 px at the bottom, 48 px on the left, 192 px on
  the right;
- Meta Business Help Center, Reels: 14% at the top, 35% at the bottom, 6% on each side.

(TikTok publishes template files rather than numbers; its right-hand column and bottom caption
fall inside the same margins.) The area used is their intersection, the largest margin on each
side: top 15% (288/1920), bottom 35% (672/1920), left 6%, right 17.8% (192/1080).

Landscape and square video (16:9, 4:3, 1:1, 4:5) has no such interface over it; the margin is the
graphics-safe area of broadcast television, ITU-R BT.1848-1 and EBU R 95: 5% in from every edge.
The same on the left and the right, so titles and captions share one centre line.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Margins:
    """Shares of the frame's width (left, right) and height (top, bottom) kept clear."""
    left: float
    top: float
    right: float
    bottom: float


VERTICAL = Margins(left=0.06, top=288 / 1920, right=192 / 1080, bottom=672 / 1920)
GRAPHICS_SAFE = Margins(left=0.05, top=0.05, right=0.05, bottom=0.05)
VERTICAL_ASPECT = 1.5   # height / width from which a frame is treated as vertical video


def margins(width: int, height: int) -> Margins:
    return VERTICAL if height >= width * VERTICAL_ASPECT else GRAPHICS_SAFE


def safe_area(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in pixels of the region titles and captions stay inside."""
    m = margins(width, height)
    return (round(width * m.left), round(height * m.top),
            round(width * (1 - m.right)), round(height * (1 - m.bottom)))

"""video.platform: each platform's defaults, and its published limits refused by field name."""
from __future__ import annotations

import pytest

from jobmodel.errors import JobInvalid
from job_parsing import parse_job
from job_parsing import PROVIDERS
from jobmodel.validate import validate_job
from generators.encode import encoder_for
from protovideo.pipeline.outputs import loudness_target, video_kbps_cap
from protovideo.pipeline.render import make_context, render_job


def job(video: dict, **top) -> dict:
    return {"video": video, "scenes": [{"duration": 2.0}], **top}


@pytest.mark.parametrize("platform,size,bitrate", [("youtube", (1920, 1080), "192k"), ("shorts", (1080, 1920), "192k"),
                                                   ("tiktok", (1080, 1920), "192k"), ("reels", (1080, 1920), "128k")])
def test_defaults(make_settings, platform, size, bitrate):
    parsed = parse_job(job({"platform": platform}))
    assert (parsed.video.width, parsed.video.height, parsed.video.fps) == (*size, 30)
    target = loudness_target(parsed, make_settings())
    assert (target.integrated, target.true_peak, target.bitrate) == (-14.0, -1.5, bitrate)


def test_the_job_overrides_the_platform(make_settings):
    parsed = parse_job(job({"platform": "shorts", "width": 1080, "height": 1080, "fps": 60},
                           audio={"loudness": -16, "true_peak": -2}))
    assert (parsed.video.width, parsed.video.height, parsed.video.fps) == (1080, 1080, 60)
    target = loudness_target(parsed, make_settings(LOUDNESS_TARGET="-20"))
    assert (target.integrated, target.true_peak) == (-16.0, -2.0)


@pytest.mark.parametrize("video,field,words", [
    ({"platform": "shorts", "preset": "landscape"}, "video.preset", "square or vertical"),
    ({"platform": "shorts", "width": 1920, "height": 1080}, "video.width", "square or vertical"),
    ({"platform": "tiktok", "fps": 15}, "video.fps", "23 to 60"),
    ({"platform": "tiktok", "width": 320, "height": 568}, "video.width", "360 to 4096"),
    ({"platform": "reels", "width": 2160, "height": 3840}, "video.width", "1920 columns"),
    ({"platform": "reels", "fps": 12}, "video.fps", "23 to 60"),
    ({"platform": "vine"}, "video.platform", "youtube, shorts, tiktok, reels"),
])
def test_limits_refused_naming_the_field(video, field, words):
    with pytest.raises(JobInvalid) as caught:
        parse_job(job(video))
    assert caught.value.field == field and words in str(caught.value)


def test_length_limits_at_parse_and_once_the_narration_is_known(make_settings, tmp_path):
    data = {"video": {"platform": "shorts"}, "scenes": [{"duration": 100.0}, {"duration": 90.0}]}
    problems = validate_job(data, tmp_path, **PROVIDERS)
    assert [(p["field"], "180 s" in p["message"]) for p in problems] == [("video.platform", True)]
    short = {"id": "brief", "video": {"platform": "tiktok", "width": 360, "height": 640, "fps": 24},
             "scenes": [{"duration": 1.0, "motion": "none"}]}
    with pytest.raises(JobInvalid) as caught:
        render_job(parse_job(short, tmp_path), make_context(make_settings()))
    assert caught.value.field == "video.platform" and "at least 3 s" in str(caught.value)


def test_reels_bitrate_cap_reaches_the_encoder():
    parsed = parse_job(job({"platform": "reels"}))
    assert video_kbps_cap(parsed) == 25_000
    enc = encoder_for("high", 30, 1080, 1920, prefer="libx264", max_kbps=video_kbps_cap(parsed))
    assert enc.limits() == ("4", 25_000, 31_250)
    assert enc.bounds() == ["-level:v", "4", "-maxrate", "25000k", "-bufsize", "31250k"]
    wide = encoder_for("high", 60, 1920, 1080, prefer="libx264")
    assert wide.limits()[:2] == ("4.2", 62_500), "High at level 4.2: 1.25 x 50 Mbit/s"

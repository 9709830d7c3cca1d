"""The poster frame beside every output: a JPEG of the first scene, at the video's size,
listed in the done record."""
from __future__ import annotations

import json

from PIL import Image

from jobmodel.states import JobState
from protovideo.service.sources.spool import SpoolSource
from protovideo.service.worker import Worker

W, H, FPS = 270, 480, 12


def test_poster_is_a_jpeg_of_the_first_scene_listed_in_the_record(make_settings, tmp_path):
    settings = make_settings(POLL_INTERVAL=0.05)
    Image.new("RGB", (W, H), (220, 30, 30)).save(tmp_path / "red.png")
    Image.new("RGB", (W, H), (30, 30, 220)).save(tmp_path / "blue.png")
    job = {"id": "postered", "output_filename": "my film.mp4",
           "video": {"width": W, "height": H, "fps": FPS, "transition": "cut", "quality": "draft"},
           "scenes": [{"image": "red.png", "duration": 1, "motion": "none"},
                      {"image": "blue.png", "duration": 1, "motion": "none"}]}
    source = SpoolSource(settings)
    source.submit(job, base_dir=tmp_path)
    worker = Worker(settings, SpoolSource(settings), middleware=[], once=True)
    assert worker.run(install_signals=False) == 0
    info = source.get("postered")
    assert info.state == JobState.FINISHED, info.record
    record = json.loads((settings.path("SPOOL_DIR") / "done" / "postered.json").read_text())
    output = settings.path("OUTPUT_DIR") / "my_film.mp4"
    assert record["output"] == str(output) and output.is_file()
    poster = settings.path("OUTPUT_DIR") / "my_film.jpg"
    assert record["poster"] == str(poster)
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"          # JPEG
    with Image.open(poster) as picture:
        assert picture.format == "JPEG" and picture.size == (W, H)
        red, green, blue = picture.convert("RGB").resize((1, 1), Image.BOX).getpixel((0, 0))
    assert red > 170 and blue < 80 and green < 80               # the first (red) scene
    leftovers = [p.name for p in settings.path("OUTPUT_DIR").iterdir() if p.name.startswith(".")]
    assert leftovers == []                                      # written atomically

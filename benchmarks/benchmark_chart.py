"""The benchmark's PNG timeline: for each run, one bar per scene, split into its steps.

Drawn with PIL only. Per-scene steps come from the report's "scenes" list; steps
of the whole job (music, soundtrack mix, mux, ...) form a last "job" bar.
Step times are summed over threads, so bars of scenes that ran in parallel overlap
in wall time; the wall total of each run is printed beside its title.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c"]
RUN_ORDER = ("cold", "warm", "changed", "sequential")


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _rows(run: dict) -> list[tuple[str, dict[str, float]]]:
    rows = []
    scene_sums: dict[str, float] = {}
    for scene in run.get("scenes", []):
        steps = {name: float(info.get("duration", 0.0)) for name, info in (scene.get("steps") or {}).items()}
        for name, seconds in steps.items():
            scene_sums[name] = scene_sums.get(name, 0.0) + seconds
        rows.append((f"scene {scene.get('index')}", steps))
    job_level = {}
    for name, info in run.get("steps", {}).items():
        rest = float(info.get("duration", 0.0)) - scene_sums.get(name, 0.0)
        if rest > 1e-3:
            job_level[name] = rest
    rows.append(("job", job_level))
    return rows


def draw_timeline(result: dict, path: Path) -> Path:
    runs = [(name, result["runs"][name]) for name in RUN_ORDER if name in result.get("runs", {})]
    step_names: list[str] = []
    for _, run in runs:
        for _, steps in _rows(run):
            step_names += [s for s in steps if s not in step_names]
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(step_names)}
    longest = max([sum(steps.values()) for _, run in runs for _, steps in _rows(run)] + [1e-6])

    label_w, bar_w, row_h, gap, margin = 110, 760, 22, 6, 20
    font, small, big = _font(14), _font(12), _font(18)
    heights = [28 + len(_rows(run)) * (row_h + gap) + 14 for _, run in runs]
    legend_h = 24 * ((len(step_names) + 3) // 4) + 20
    width = margin * 2 + label_w + bar_w + 70
    height = margin * 2 + 34 + sum(heights) + legend_h
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    job = result.get("job", {})
    draw.text((margin, margin), f"ProtoVideo benchmark: {job.get('scenes')} scenes, {job.get('width')}x"
              f"{job.get('height')} {job.get('fps')} fps, {job.get('quality')} (seconds per scene and step)",
              fill="black", font=big)
    y = margin + 34
    scale = bar_w / longest
    for (name, run), block in zip(runs, heights):
        draw.text((margin, y), f"{name}: {run.get('wall_s', 0):.2f} s wall, MAX_WORKERS={run.get('max_workers')}",
                  fill="black", font=font)
        ry = y + 24
        for label, steps in _rows(run):
            draw.text((margin, ry + 4), label, fill="#333333", font=small)
            x = margin + label_w
            for step in step_names:
                seconds = steps.get(step, 0.0)
                if seconds <= 0:
                    continue
                w = max(1, int(round(seconds * scale)))
                draw.rectangle([x, ry, x + w, ry + row_h], fill=colors[step], outline="white")
                x += w
            draw.text((x + 4, ry + 4), f"{sum(steps.values()):.2f}", fill="#333333", font=small)
            ry += row_h + gap
        y += block
    lx, ly = margin, y + 10
    for i, step in enumerate(step_names):
        cx = lx + (i % 4) * 240
        cy = ly + (i // 4) * 24
        draw.rectangle([cx, cy, cx + 16, cy + 16], fill=colors[step])
        draw.text((cx + 22, cy + 1), step, fill="black", font=small)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial.png")
    image.save(tmp, format="PNG")
    tmp.replace(path)
    return path

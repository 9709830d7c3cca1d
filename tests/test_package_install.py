"""`pip install .` on a fresh machine: a plain virtual environment (no system site-packages), the
package installed from a copy of the repository without var/ (pip takes the dependencies from
requirements.txt through pyproject.toml), then the console script as a user runs it from another
folder: `protovideo --version`, and `protovideo render .../examples/reel.json`, whose relative
asset (assets/music.m4a) resolves against the job file's folder while the outputs go to ./var
under the folder it was run from. The MP4 is checked with ffprobe.

About a minute on two cores (pip's own cache makes the install some 20 s); skipped, saying so,
only when pip cannot reach the package registry."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from media import ffprobe, streams
from test_fresh_install import NETWORK_ERRORS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protovideo", "generators", "storage", "cache", "jobmodel")


def repo_files() -> list[str]:
    """What a fresh clone holds (tracked and new files, nothing git ignores: no var/)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell the repository's files from build outputs")
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("package")
    source, venv = base / "source", base / "venv"
    files = repo_files()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    assert not (source / "var").exists()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", str(source)],
                         capture_output=True, text=True, timeout=1800)
    if pip.returncode != 0:
        if any(marker in pip.stderr for marker in NETWORK_ERRORS):
            pytest.skip("pip could not reach the package registry: " + pip.stderr.strip().splitlines()[-1])
        pytest.fail(f"pip install . failed:\n{pip.stderr[-3000:]}")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8"}
    return {"source": source, "venv": venv, "cwd": elsewhere, "env": env, "files": files}


def run(installed, *args, timeout=600):
    return subprocess.run([str(installed["venv"] / "bin" / "protovideo"), *args], cwd=installed["cwd"],
                          env=installed["env"], capture_output=True, text=True, timeout=timeout)


def test_version_is_the_package_version_and_the_checkout_says_the_same(installed):
    from protovideo import __version__
    result = run(installed, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"protovideo {__version__}"
    checkout = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "--version"],
                              capture_output=True, text=True, timeout=120)
    assert checkout.stdout.strip() == f"main_worker.py {__version__}", checkout.stderr
    metadata = subprocess.run([str(installed["venv"] / "bin" / "python"), "-c",
                               "import importlib.metadata as m; print(m.version('protovideo-worker'))"],
                              capture_output=True, text=True, env=installed["env"], cwd=installed["cwd"])
    assert metadata.stdout.strip() == __version__
    usage = run(installed, "--help")
    for command in ("render", "run", "serve", "submit", "validate", "mcp"):   # main_worker.py's commands
        assert command in usage.stdout
    import_mcp = subprocess.run([str(installed["venv"] / "bin" / "python"), "-c", "import mcp.server.mcpserver"],
                                capture_output=True, text=True, env=installed["env"], cwd=installed["cwd"])
    assert import_mcp.returncode == 0, import_mcp.stderr   # `protovideo mcp`'s SDK came with the package


def test_every_file_of_the_packages_is_installed(installed):
    site = subprocess.run([str(installed["venv"] / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    wanted = [name for name in installed["files"] if name.split("/")[0] in PACKAGES]
    assert any(name.endswith("DejaVuSans-Bold.ttf") for name in wanted)
    assert any(name.endswith("static/index.html") for name in wanted)
    missing = [name for name in wanted if not (Path(site) / name).is_file()]
    assert not missing, f"not installed by pip install .: {missing}"
    for module in ("main_worker.py", "performance_optimizer.py"):
        assert (Path(site) / module).is_file()


def test_the_console_script_renders_the_example_from_another_folder(installed):
    job = installed["source"] / "examples" / "reel.json"
    result = run(installed, "render", str(job), "--quiet")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    video = installed["cwd"] / "var" / "output" / "example_reel.mp4"
    assert result.stdout.strip().splitlines()[-1] == str(video)
    info = ffprobe(video)
    (v,), (a,) = streams(info, "video"), streams(info, "audio")
    assert (v["codec_name"], v["width"], v["height"]) == ("h264", 1080, 1920)
    assert a["codec_name"] == "aac"
    assert 15.0 < float(info["format"]["duration"]) < 20.0
    for name in ("example_reel.jpg", "example_reel.srt", "example_reel.vtt"):
        assert (installed["cwd"] / "var" / "output" / name).stat().st_size > 0
    assert (installed["cwd"] / "var" / "reports" / "example-reel.json").is_file()
    assert "PERF job=example-reel" in (installed["cwd"] / "worker.log").read_text()   # ./worker.log there too
    # nothing written beside the job file or into the installed source copy
    assert not (installed["source"] / "var").exists()
    assert not (installed["source"] / "examples" / "var").exists()

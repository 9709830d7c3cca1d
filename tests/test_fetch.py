"""generators.fetch and its network policy (generators.netpolicy): refused addresses, redirects, size limits, retries, timeouts, byte checks.

A listener on 127.0.0.1 stands for a private host (it must never be reached
while ALLOW_PRIVATE_URLS is off); a second one on 127.0.0.2 plays a public
host, by letting address_problem() accept that one address.
"""
from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest
from PIL import Image

from generators import fetch, netpolicy
from generators.fetch import fetch_asset
from generators.netpolicy import address_problem
from hostile_helpers import Listener, gzip_bomb, png_bytes
from jobmodel.errors import JobFailed, TransientError
from jobmodel.refs import AssetRef, parse_asset_ref


@pytest.fixture
def private():
    with Listener("127.0.0.1") as server:
        yield server


@pytest.fixture
def public(monkeypatch):
    """A listener whose address (127.0.0.2) the guard treats as public."""
    real = netpolicy.address_problem
    monkeypatch.setattr(netpolicy, "address_problem",
                        lambda ip: None if ip == "127.0.0.2" else real(ip))
    with Listener("127.0.0.2") as server:
        yield server


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(fetch, "BACKOFF_BASE_S", 0.01)
    monkeypatch.setattr(fetch, "BACKOFF_MAX_S", 0.05)


def url_ref(url: str, kind: str = "image", field: str = "scenes[3].image") -> AssetRef:
    return parse_asset_ref(url, field, kind, [])


def downloads(settings) -> list[Path]:
    folder = settings.path("WORK_DIR") / "downloads"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("ip, word", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fd00::1", "private"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("100.64.0.1", "public"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"), ("2002:7f00:1::", "loopback"),
])
def test_refused_addresses(ip, word):
    problem = address_problem(ip)
    assert problem is not None and (word in problem or word == "public"), (ip, problem)


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(ip):
    assert address_problem(ip) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "[::1]",
                                  "[::ffff:127.0.0.1]", "127.1", "0177.0.0.1"])
def test_loopback_spellings_never_reach_the_listener(host, private, make_settings):
    settings = make_settings()
    port_host = host if host.startswith("[") or ":" not in host else f"[{host}]"
    ref = url_ref(f"http://{port_host}:{private.port}/pic.png")
    with pytest.raises(JobFailed) as info:
        fetch_asset(ref, settings)
    assert not isinstance(info.value, TransientError)
    assert info.value.field == "scenes[3].image" and info.value.scene == 3
    assert "refused" in str(info.value) or "resolve" in str(info.value)
    assert private.hits == []
    assert downloads(settings) == []


def test_metadata_address_refused(make_settings):
    with pytest.raises(JobFailed, match=r"scenes\[3\]\.image: refused: .*169\.254\.169\.254.*link-local"):
        fetch_asset(url_ref("http://169.254.169.254/latest/meta-data/"), make_settings())


def test_allow_private_urls_downloads_a_real_png(private, make_settings):
    settings = make_settings(ALLOW_PRIVATE_URLS="true")
    path = fetch_asset(url_ref(f"http://127.0.0.1:{private.port}/pic.png"), settings)
    assert path.read_bytes() == private.png
    assert path.parent == settings.path("WORK_DIR") / "downloads"
    with Image.open(path) as img:
        assert img.size == (24, 24)
    assert private.hits == ["/pic.png"]


def test_download_into_cache_once(public, make_settings):
    from cache import open_cache
    settings = make_settings()
    cache = open_cache(settings)
    ref = url_ref(f"{public.base}/pic.png")
    first = fetch_asset(ref, settings, cache)
    second = fetch_asset(ref, settings, cache)
    assert first == second and first.read_bytes() == public.png
    assert settings.path("CACHE_DIR") in first.parents
    assert public.hits == ["/pic.png"]
    assert downloads(settings) == []


def test_redirect_to_private_address_refused(public, private, make_settings):
    public.routes["/hop"] = (302, {"Location": f"http://127.0.0.1:{private.port}/pic.png"}, b"")
    with pytest.raises(JobFailed, match="loopback") as info:
        fetch_asset(url_ref(f"{public.base}/hop"), make_settings())
    assert info.value.field == "scenes[3].image"
    assert public.hits == ["/hop"] and private.hits == []


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://example.com/x.png",
                                      "gopher://127.0.0.1:70/"])
def test_redirect_to_other_schemes_refused(location, public, make_settings):
    public.routes["/hop"] = (301, {"Location": location}, b"")
    with pytest.raises(JobFailed, match="only http and https"):
        fetch_asset(url_ref(f"{public.base}/hop"), make_settings())


def test_relative_redirects_followed_and_loops_stopped(public, make_settings):
    public.routes["/a"] = (302, {"Location": "/b"}, b"")
    public.routes["/b"] = (307, {"Location": "pic.png"}, b"")
    assert fetch_asset(url_ref(f"{public.base}/a"), make_settings()).read_bytes() == public.png
    public.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(JobFailed, match="more than 5 redirects"):
        fetch_asset(url_ref(f"{public.base}/loop"), make_settings())
    assert public.hits.count("/loop") == 6


def test_not_an_image_refused_by_its_bytes(public, make_settings):
    public.routes["/cat.png"] = (200, {"Content-Type": "image/png"}, b"<html>login page</html>")
    settings = make_settings()
    with pytest.raises(JobFailed, match=r"scenes\[3\]\.image: the file is not a picture") as info:
        fetch_asset(url_ref(f"{public.base}/cat.png"), settings)
    assert info.value.asset == f"{public.base}/cat.png"
    assert downloads(settings) == []


def test_not_an_image_is_not_cached(public, make_settings):
    from cache import open_cache
    public.routes["/cat.png"] = (200, {}, b"GIF89a but not really")
    settings = make_settings()
    cache = open_cache(settings)
    for _ in range(2):
        with pytest.raises(JobFailed):
            fetch_asset(url_ref(f"{public.base}/cat.png"), settings, cache)
    assert public.hits == ["/cat.png", "/cat.png"]
    cached = [p for p in settings.path("CACHE_DIR").rglob("*") if p.is_file() and p.suffix == ".png"]
    assert cached == []


@pytest.mark.parametrize("stream", [False, True], ids=["content-length", "chunked"])
def test_max_download_mb_enforced_while_streaming(stream, public, make_settings):
    body = b"\x89PNG" + b"\0" * (3 * 1024 * 1024)
    public.routes["/big.png"] = (200, {}, body, 0, stream)
    settings = make_settings(MAX_DOWNLOAD_MB="1")
    with pytest.raises(JobFailed, match="MAX_DOWNLOAD_MB") as info:
        fetch_asset(url_ref(f"{public.base}/big.png"), settings)
    assert not isinstance(info.value, TransientError)
    assert downloads(settings) == []


def test_gzip_bomb_counted_after_decoding(public, make_settings):
    public.routes["/z.png"] = (200, {"Content-Encoding": "gzip"}, gzip_bomb(5))
    settings = make_settings(MAX_DOWNLOAD_MB="1")
    with pytest.raises(JobFailed, match="MAX_DOWNLOAD_MB"):
        fetch_asset(url_ref(f"{public.base}/z.png"), settings)
    assert downloads(settings) == []


def test_transient_errors_retried_then_succeed(public, make_settings):
    public.routes["/flaky.png"] = lambda n: (503, {}, b"busy") if n <= 2 else (200, {}, public.png)
    path = fetch_asset(url_ref(f"{public.base}/flaky.png"), make_settings())
    assert path.read_bytes() == public.png
    assert public.hits == ["/flaky.png"] * 3


def test_429_exhausts_retries_as_transient(public, make_settings):
    public.routes["/busy.png"] = (429, {"Retry-After": "0"}, b"slow down")
    settings = make_settings()
    with pytest.raises(TransientError, match="HTTP 429") as info:
        fetch_asset(url_ref(f"{public.base}/busy.png"), settings)
    assert info.value.retryable and info.value.field == "scenes[3].image"
    assert public.hits == ["/busy.png"] * fetch.ATTEMPTS
    assert downloads(settings) == []


def test_404_is_not_retried(public, make_settings):
    with pytest.raises(JobFailed, match="HTTP 404") as info:
        fetch_asset(url_ref(f"{public.base}/missing.bin"), make_settings())
    assert not isinstance(info.value, TransientError)
    assert public.hits == ["/missing.bin"]


def test_read_timeout_is_transient(public, make_settings, monkeypatch):
    monkeypatch.setattr(fetch, "READ_TIMEOUT_S", 0.3)
    monkeypatch.setattr(fetch, "ATTEMPTS", 2)
    public.routes["/slow.png"] = (200, {}, public.png, 2.0)
    with pytest.raises(TransientError):
        fetch_asset(url_ref(f"{public.base}/slow.png"), make_settings())
    assert public.hits == ["/slow.png"] * 2


def test_connection_refused_is_transient(make_settings, monkeypatch):
    real = netpolicy.address_problem
    monkeypatch.setattr(netpolicy, "address_problem", lambda ip: None if ip == "127.0.0.3" else real(ip))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.3", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="cannot download"):
        fetch_asset(url_ref(f"http://127.0.0.3:{port}/x.png"), make_settings())


def test_dns_rebinding_caught_at_connect(private, make_settings, monkeypatch):
    """The pre-check sees a public address; the connection guard resolves again and refuses."""
    monkeypatch.setattr(fetch, "check_url", lambda *args: None)
    with pytest.raises(JobFailed, match="loopback"):
        fetch_asset(url_ref(f"http://127.0.0.1:{private.port}/pic.png"), make_settings())
    assert private.hits == []


def test_unknown_host_fails_naming_the_asset(make_settings):
    with pytest.raises(JobFailed, match=r"scenes\[3\]\.image: cannot resolve host"):
        fetch_asset(url_ref("http://no-such-host.invalid/a.png"), make_settings())


def test_credentials_in_url_refused(public, make_settings):
    host = public.base.replace("http://", "")
    with pytest.raises(JobFailed, match="user names or passwords"):
        fetch_asset(url_ref(f"http://user:pw@{host}/pic.png"), make_settings())
    assert public.hits == []


def test_audio_and_video_downloads_checked(public, make_settings, tmp_path):
    from hostile_helpers import _ff
    _ff("-f", "lavfi", "-i", "sine=duration=1", str(tmp_path / "n.wav"))
    public.routes["/n.wav"] = (200, {}, (tmp_path / "n.wav").read_bytes())
    ok = fetch_asset(url_ref(f"{public.base}/n.wav", "audio", "scenes[0].narration"), make_settings())
    assert ok.suffix == ".wav" and ok.stat().st_size > 1000
    with pytest.raises(JobFailed, match=r"scenes\[0\]\.video: the file has no video stream"):
        fetch_asset(url_ref(f"{public.base}/n.wav", "video", "scenes[0].video"), make_settings())


# ---------------------------------------------------------------- local files
def test_local_file_checked_and_resolved(tmp_path, make_settings):
    settings = make_settings()
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "p.png").write_bytes(png_bytes())
    ref = parse_asset_ref("p.png", "scenes[0].image", "image", [folder])
    assert fetch_asset(ref, settings) == (folder / "p.png").resolve()


def test_local_file_swapped_for_symlink_after_parse(tmp_path, make_settings):
    """Checked at parse time, replaced by a link leading out before fetch: refused."""
    settings = make_settings()
    folder, outside = tmp_path / "job", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "p.png").write_bytes(png_bytes())
    (outside / "secret.png").write_bytes(png_bytes())
    ref = parse_asset_ref("p.png", "scenes[1].image", "image", [folder])
    (folder / "p.png").unlink()
    (folder / "p.png").symlink_to(outside / "secret.png")
    with pytest.raises(JobFailed, match=r"scenes\[1\]\.image: the file now lies outside") as info:
        fetch_asset(ref, settings)
    assert info.value.scene == 1 and info.value.asset == "p.png"


def test_local_corrupt_picture_names_scene_and_asset(tmp_path, make_settings):
    folder = tmp_path / "job"
    folder.mkdir()
    data = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(data, "JPEG")
    (folder / "cut.jpg").write_bytes(data.getvalue()[:300])
    ref = parse_asset_ref("cut.jpg", "scenes[4].image", "image", [folder])
    with pytest.raises(JobFailed, match=r"scenes\[4\]\.image: the picture is corrupt or truncated") as info:
        fetch_asset(ref, make_settings())
    assert info.value.scene == 4 and "cut.jpg" in str(info.value)


def test_connection_dropped_mid_body_is_transient(public, make_settings):
    body = png_bytes((300, 300))
    public.routes["/cut.png"] = (200, {"Content-Length": str(len(body) * 3)}, body, 0, True)
    settings = make_settings()
    with pytest.raises(TransientError, match="broke off") as info:
        fetch_asset(url_ref(f"{public.base}/cut.png"), settings)
    assert info.value.field == "scenes[3].image"
    assert public.hits == ["/cut.png"] * fetch.ATTEMPTS
    assert downloads(settings) == []

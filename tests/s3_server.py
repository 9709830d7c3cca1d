"""A real S3 server for the tests: scripts/s3_server.sh (Ceph radosgw on a one-node cluster).

`S3Server.start(folder, buckets)` brings a cluster up in `folder` on fresh ports, `stop()` ends
every daemon; `stop_gateway()`/`start_gateway()` kill and restart the S3 gateway alone (a store
that goes down mid-job). `env` holds the AWS_* settings a client needs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "s3_server.sh"
NEEDED = ("radosgw", "ceph-mon", "ceph-osd", "radosgw-admin", "monmaptool", "curl")


def missing_tools() -> list[str]:
    return [tool for tool in NEEDED if shutil.which(tool) is None]


@dataclass
class S3Server:
    folder: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, folder: Path, buckets: tuple[str, ...]) -> "S3Server":
        server = cls(Path(folder))
        try:
            out = server._run("start", *buckets, timeout=180)
        except BaseException:
            server.stop()
            raise
        server.env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return server

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL_S3"]

    def _run(self, command: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(["bash", str(SCRIPT), command, str(self.folder), *args],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"s3_server.sh {command} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def stop_gateway(self) -> None:
        self._run("stop-gateway")

    def start_gateway(self) -> None:
        self._run("start-gateway")

    def stop(self) -> None:
        if (self.folder / "ceph.conf").is_file():
            self._run("stop")

    def client(self, **overrides: str):
        """A plain boto3 client on this server (the tests' independent view of the store)."""
        import boto3
        from botocore.config import Config
        env = {**self.env, **overrides}
        return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name=env["AWS_REGION"],
                            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                            config=Config(s3={"addressing_style": "path"},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))


def in_ci() -> bool:
    return bool(os.environ.get("CI"))

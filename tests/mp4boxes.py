"""A small ISO BMFF (MP4) box walker for the tests: no library between the file and the check."""
from __future__ import annotations

import struct

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta"}


def boxes(data: bytes, start: int = 0, end: int | None = None, path: str = "") -> list[tuple[str, int, int, int]]:
    """Every box as (path, offset, header size, size), depth first; sample entries (avc1, mp4a)
    are walked into past their fixed fields."""
    end = len(data) if end is None else end
    found, offset = [], start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        name = f"{path}/{kind.decode('latin1')}"
        found.append((name, offset, header, size))
        body = offset + header
        if kind in CONTAINERS:
            found += boxes(data, body, offset + size, name)
        elif kind == b"stsd":
            found += boxes(data, body + 8, offset + size, name)        # version/flags, entry count
        elif kind == b"avc1":
            found += boxes(data, body + 78, offset + size, name)       # VisualSampleEntry fields
        elif kind == b"mp4a":
            found += boxes(data, body + 28, offset + size, name)       # AudioSampleEntry fields
        offset += size
    return found


def box(data: bytes, found: list, suffix: str) -> bytes:
    (entry,) = [b for b in found if b[0].endswith(suffix)]
    _name, offset, header, size = entry
    return data[offset + header:offset + size]


def descriptors(blob: bytes) -> dict[int, bytes]:
    """MPEG-4 descriptors (ISO 14496-1) of an esds body: tag -> payload, nested ones too."""
    out, i = {}, 0
    while i < len(blob):
        tag, i = blob[i], i + 1
        length = 0
        while True:
            byte, i = blob[i], i + 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        payload = blob[i:i + length]
        out[tag] = payload
        if tag == 0x03:
            out.update(descriptors(payload[3:]))    # ES_ID, flags
        elif tag == 0x04:
            out.update(descriptors(payload[13:]))   # objectType, stream type, buffer, bitrates
        i += length
    return out

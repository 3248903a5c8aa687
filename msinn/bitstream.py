"""The ``.msn`` file format (documented in docs/FORMAT.md): header, streams, CRC32.

    offset  size  field
    0       4     magic b"MSNN"
    4       1     format version (2)
    5       1     number of streams n (5: y5, y4, y3, y2, y1)
    6       8     weights id (first 8 bytes of a SHA-256 over config and tensors)
    14      4     original height  (uint32, big-endian)
    18      4     original width   (uint32)
    22      4     rate index       (float32)
    26      4·n   stream lengths   (uint32 each)
    26+4n   4·n   symbol checksums (CRC32 of each stream's decoded symbols, int32 little-endian)
    …             the n range-coded streams, back to back
    end−4   4     CRC32 of every byte before it

Every field is checked before anything is allocated from it; any problem raises
:class:`BitstreamError`.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

from .image import MAX_PIXELS, MAX_SIDE, check_size

MAGIC = b"MSNN"
VERSION = 2
# Version 1 files (MSINN 0.1, CompressAI rANS, float32 entropy model) decoded exactly only on
# the kind of machine that wrote them; they are refused with this explanation.
_OLD_VERSIONS = {1: "format version 1 (MSINN 0.1) is no longer read: its files decode exactly only on the machine that wrote them; re-encode the image"}
N_STREAMS = 5
_HEAD = struct.Struct(">4sBB8sIIf")
HEADER_BYTES = _HEAD.size + 8 * N_STREAMS + 4  # 66, with the trailing CRC32
MAX_FILE_BYTES = 1 << 30  # a 64-megapixel image at ~16 bpp still fits in 128 MiB


class BitstreamError(ValueError):
    """The bytes are not a valid MSINN file for this decoder (truncated, corrupted, foreign,
    oversized or made with other weights)."""


@dataclass(frozen=True)
class Header:
    model_id: bytes
    height: int
    width: int
    rate: float
    checksums: tuple[int, ...] = ()  # CRC32 of each stream's symbols, y5 … y1


def pack(header: Header, streams: list[bytes]) -> bytes:
    """Header and streams → file bytes (with the trailing CRC32)."""
    if len(streams) != N_STREAMS or len(header.checksums) != N_STREAMS or len(header.model_id) != 8:
        raise ValueError("need 5 streams, 5 checksums and an 8-byte weights id")
    check_size(header.width, header.height)
    body = _HEAD.pack(MAGIC, VERSION, N_STREAMS, header.model_id, header.height, header.width, header.rate)
    body += struct.pack(f">{2 * N_STREAMS}I", *map(len, streams), *header.checksums) + b"".join(streams)
    return body + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """File bytes → (header, streams); raises BitstreamError on any inconsistency."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_FILE_BYTES:
        raise BitstreamError(f"file of {len(data)} bytes exceeds the {MAX_FILE_BYTES} byte limit")
    if len(data) < 5:
        raise BitstreamError(f"file too short ({len(data)} bytes) to be an MSINN file")
    if data[:4] != MAGIC:
        raise BitstreamError("not an MSINN file (bad magic bytes)")
    if data[4] in _OLD_VERSIONS:
        raise BitstreamError(_OLD_VERSIONS[data[4]])
    if data[4] != VERSION:
        raise BitstreamError(f"unsupported format version {data[4]} (this decoder reads {VERSION})")
    if len(data) < HEADER_BYTES:
        raise BitstreamError(f"file too short ({len(data)} bytes) to be an MSINN file")
    _, _, n, model_id, height, width, rate = _HEAD.unpack_from(data)
    if n != N_STREAMS:
        raise BitstreamError(f"expected {N_STREAMS} streams, header says {n}")
    (crc,) = struct.unpack_from(">I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupted or truncated")
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and height * width <= MAX_PIXELS):
        raise BitstreamError(f"image size {width}x{height} exceeds the limits ({MAX_SIDE} px a side, {MAX_PIXELS:,} pixels)")
    if not math.isfinite(rate):
        raise BitstreamError(f"invalid rate index {rate}")
    fields = struct.unpack_from(f">{2 * N_STREAMS}I", data, _HEAD.size)
    lengths, checksums = fields[:N_STREAMS], fields[N_STREAMS:]
    offset = _HEAD.size + 8 * N_STREAMS
    if offset + sum(lengths) + 4 != len(data):
        raise BitstreamError("stream lengths do not add up to the file size")
    streams = []
    for length in lengths:
        streams.append(data[offset : offset + length])
        offset += length
    return Header(model_id, height, width, rate, checksums), streams

"""Every malformed file gives BitstreamError, quickly, and nothing else."""

from __future__ import annotations

import dataclasses
import random
import struct
import time
import zlib

import pytest

import msinn
from msinn import BitstreamError
from msinn.bitstream import pack, unpack


@pytest.fixture(scope="module")
def valid_file(tiny_codec, small_image) -> bytes:
    return tiny_codec.compress(small_image.crop((0, 0, 40, 24)), 0.0)


def _fails_fast(codec: msinn.Codec, data: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(BitstreamError):
        codec.decompress(data)
    assert time.perf_counter() - start < 1.0


def test_every_truncation_raises_bitstream_error(tiny_codec, valid_file):
    for n in range(len(valid_file)):
        with pytest.raises(BitstreamError):
            tiny_codec.decompress(valid_file[:n])


def test_random_byte_flips_raise_bitstream_error(tiny_codec, valid_file):
    rng = random.Random(0)
    for _ in range(200):
        data = bytearray(valid_file)
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
        _fails_fast(tiny_codec, bytes(data))


def test_random_garbage_raises_bitstream_error(tiny_codec):
    rng = random.Random(1)
    for n in [0, 1, 10, 45, 46, 100, 5000]:
        _fails_fast(tiny_codec, bytes(rng.randrange(256) for _ in range(n)))
    _fails_fast(tiny_codec, b"MSNN" + bytes(rng.randrange(256) for _ in range(200)))


def _with_valid_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def test_header_claiming_huge_image_is_refused_before_allocation(tiny_codec, valid_file):
    body = bytearray(valid_file[:-4])
    struct.pack_into(">II", body, 14, 10**6, 10**6)
    _fails_fast(tiny_codec, _with_valid_crc(bytes(body)))


def test_unknown_version_and_wrong_stream_lengths_are_refused(tiny_codec, valid_file):
    body = bytearray(valid_file[:-4])
    body[4] = 9
    with pytest.raises(BitstreamError, match="version 9"):
        tiny_codec.decompress(_with_valid_crc(bytes(body)))
    body = bytearray(valid_file[:-4])
    struct.pack_into(">I", body, 26, 10**8)
    with pytest.raises(BitstreamError, match="lengths"):
        tiny_codec.decompress(_with_valid_crc(bytes(body)))


def test_file_from_other_weights_is_refused_with_clear_message(tiny_codec, valid_file):
    header, streams = unpack(valid_file)
    foreign = pack(dataclasses.replace(header, model_id=b"\x00" * 8), streams)
    with pytest.raises(BitstreamError, match="made by weights 0000000000000000, which are not in weights/"):
        tiny_codec.decompress(foreign)


def test_file_from_a_shipped_model_names_it_when_another_model_decodes(tiny_codec, shipped, small_image):
    data = shipped.compress(small_image, rate=2.0)
    with pytest.raises(BitstreamError, match=r"^this file was made by model 'msinn-lite', not by the loaded .*: decode it with 'msinn-lite'$"):
        tiny_codec.decompress(data)


def test_rate_outside_model_range_is_refused(tiny_codec, valid_file):
    header, streams = unpack(valid_file)
    data = pack(dataclasses.replace(header, rate=99.0), streams)
    with pytest.raises(BitstreamError, match="outside"):
        tiny_codec.decompress(data)


def test_non_bytes_input_is_refused(tiny_codec):
    with pytest.raises(BitstreamError, match="expected bytes"):
        tiny_codec.decompress("not bytes")


def test_version_1_files_get_a_clear_error(tiny_codec, valid_file):
    body = bytearray(valid_file[:-4])
    body[4] = 1
    with pytest.raises(BitstreamError, match="version 1 .* re-encode"):
        tiny_codec.decompress(_with_valid_crc(bytes(body)))


@pytest.fixture(scope="module")
def shipped() -> msinn.Codec:
    return msinn.load(device="cpu")


def test_crc_valid_junk_streams_are_refused(shipped, small_image):
    """Streams replaced by random bytes (CRC recomputed): never an image, always the reason."""
    header, streams = unpack(shipped.compress(small_image, 6.0))
    rng = random.Random(2)
    for trial in range(30):
        junk = [bytes(rng.randrange(256) for _ in range(len(s) + 4 * (trial % 3))) for s in streams]
        with pytest.raises(BitstreamError, match="not a valid stream|did not decode exactly|whole number"):
            shipped.decompress(pack(header, junk))


def test_small_file_claiming_a_huge_image_is_refused_within_seconds(shipped, small_image):
    """A few hundred bytes claiming 4096×4096: the coarsest stream's checksum fails after a
    fraction of the work; a caller's max_pixels refuses it before any."""
    header, streams = unpack(shipped.compress(small_image.crop((0, 0, 64, 64)), 2.0))
    bomb = pack(dataclasses.replace(header, height=4096, width=4096), streams)
    assert len(bomb) < 1000
    start = time.perf_counter()
    with pytest.raises(BitstreamError, match="stream y5"):
        shipped.decompress(bomb)
    assert time.perf_counter() - start < 10
    with pytest.raises(BitstreamError, match="pixel limit"):
        shipped.decompress(bomb, max_pixels=2**22)


def test_by_default_a_file_claiming_more_pixels_than_the_host_can_hold_is_refused_before_any_work(shipped, small_image, monkeypatch):
    """The default max_pixels follows the host's memory (msinn/memory.py): on a host with
    0.8 GB more than this process holds, a 4096×4096 file (1.1 GB at 64 bytes per pixel) is
    refused from its header alone."""
    header, streams = unpack(shipped.compress(small_image.crop((0, 0, 64, 64)), 2.0))
    big = pack(dataclasses.replace(header, height=4096, width=4096), streams)
    monkeypatch.setattr(msinn.memory, "host_memory", lambda: msinn.memory.resident_memory() + 800_000_000)
    limit = msinn.memory.host_max_pixels()
    assert 1 << 20 <= limit < 4096 * 4096
    start = time.perf_counter()
    with pytest.raises(BitstreamError, match=f"exceeds the {limit:,} pixel limit"):
        shipped.decompress(big)
    assert time.perf_counter() - start < 0.5
    assert shipped.decompress(shipped.compress(small_image, 2.0)).size == small_image.size

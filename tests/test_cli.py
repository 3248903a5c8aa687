"""python -m msinn compress / decompress / info, and how bad input is reported."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from conftest import make_weights
from PIL import Image

import msinn
from msinn.cli import main


def test_compress_info_decompress_round_trip(tiny_weights, tmp_path, small_image, capsys):
    src, msn, out = tmp_path / "in.png", tmp_path / "a.msn", tmp_path / "out.png"
    small_image.save(src)
    assert main(["compress", str(src), str(msn), "--rate", "1.5", "--model", str(tiny_weights)]) == 0
    assert main(["info", str(msn)]) == 0
    info = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    w, h = small_image.size
    assert (info["width"], info["height"], info["rate"]) == (w, h, 1.5)
    assert info["bytes"] == msn.stat().st_size
    assert main(["decompress", str(msn), str(out), "--model", str(tiny_weights)]) == 0
    assert Image.open(out).size == small_image.size


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "msinn", *args], capture_output=True, text=True, timeout=120)


def test_bad_input_exits_nonzero_with_one_line_and_no_traceback(tiny_weights, tmp_path):
    garbage = tmp_path / "g.msn"
    garbage.write_bytes(b"\x00" * 100)
    for args in [
        ["decompress", str(garbage), str(tmp_path / "o.png"), "--model", str(tiny_weights)],
        ["info", str(tmp_path / "missing.msn")],
        ["compress", str(garbage), str(tmp_path / "o.msn"), "--rate", "1", "--model", str(tiny_weights)],
        ["compress", str(garbage), str(tmp_path / "o.msn"), "--rate", "1", "--model", "nope"],
    ]:
        r = _run(*args)
        assert r.returncode == 2, args
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


def test_compare_json_lists_msinn_and_each_codec_near_the_target(tiny_weights, tmp_path, small_image, capsys):
    src = tmp_path / "in.png"
    small_image.save(src)
    assert main(["compare", str(src), "--bpp", "1.0", "--codecs", "webp,jpeg", "--model", str(tiny_weights), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["codec"] for r in rows] == ["msinn", "webp", "jpeg"]
    for r in rows:
        assert {"codec", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s"} <= set(r)
        assert r["within_tolerance"] == (abs(r["bpp"] - 1.0) <= 0.15)


def test_evaluate_writes_compressai_json_from_real_files(tiny_weights, tmp_path, small_image):
    folder = tmp_path / "imgs"
    folder.mkdir()
    small_image.save(folder / "a.png")
    out = tmp_path / "r.json"
    assert main(["evaluate", str(folder), "--out", str(out), "--rates", "0", "2", "--model", str(tiny_weights)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time", "rate"}
    assert doc["results"]["rate"] == [0.0, 2.0] and doc["results"]["bpp"][0] < doc["results"]["bpp"][1]


def test_effort_through_the_cli_keeps_the_decoder(tiny_weights, tmp_path, small_image):
    """compress --effort 1 makes a file the plain decompress reads; evaluate --effort records it."""
    src, msn, png = tmp_path / "a.png", tmp_path / "a.msn", tmp_path / "a-dec.png"
    small_image.save(src)
    assert main(["compress", str(src), str(msn), "--rate", "2", "--effort", "1", "--model", str(tiny_weights)]) == 0
    assert main(["decompress", str(msn), str(png), "--model", str(tiny_weights)]) == 0
    assert Image.open(png).size == small_image.size
    out = tmp_path / "r.json"
    assert main(["evaluate", str(tmp_path), "--out", str(out), "--rates", "1", "--effort", "1", "--model", str(tiny_weights)]) == 0
    assert "effort 1" in json.loads(out.read_text())["description"]


def test_decompress_picks_the_shipped_model_that_wrote_the_file(tiny_weights, tmp_path, small_image, monkeypatch, capsys):
    """Two models in weights/: a file names its own, 'decompress' uses it without --model, and
    decoding with the other one is refused in one sentence that names the right one."""
    shipped = tmp_path / "weights"
    shipped.mkdir()
    make_weights("tiny", shipped / "msinn-a.safetensors", small_image, seed=1)
    shutil.copy(tiny_weights, shipped / "msinn-b.safetensors")
    monkeypatch.setattr(msinn.codec, "WEIGHTS_DIR", shipped)
    src, msn = tmp_path / "in.png", tmp_path / "b.msn"
    small_image.save(src)
    assert main(["compress", str(src), str(msn), "--rate", "1", "--model", "b"]) == 0  # short name
    assert msinn.model_for(msn.read_bytes()) == "msinn-b"
    assert main(["decompress", str(msn), str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == small_image.size
    capsys.readouterr()
    assert main(["decompress", str(msn), str(tmp_path / "x.png"), "--model", "msinn-a"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "made by model 'msinn-b', not by the loaded 'msinn-a'" in err

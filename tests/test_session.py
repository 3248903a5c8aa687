"""The demo's per-image session (size limit, rate cache through the scheduler, exact decode,
rate search, refinement at higher effort, classic codecs) and the file store the app serves from."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

import msinn_app.session
from msinn.baselines import BaselineError, get_codec
from msinn.ffmpeg_codecs import FFmpegCodec
from msinn.pillow_codecs import PillowCodec
from msinn.plots import codec_family
from msinn.refine import EFFORTS
from msinn_app.classic import BACKGROUND, SWEEPS
from msinn_app.files import FileStore
from msinn_app.host import ZeroGPUCodec
from msinn_app.scheduler import CancelledError, Scheduler, wait_idle
from msinn_app.serving import LiveSessions, Serving
from msinn_app.session import (
    GRID_STEP,
    LARGE_PIXELS,
    VIEW_MAX_PIXELS,
    VIEW_MAX_SIDE,
    ImageSession,
    grid_rates,
    grid_step,
    limit_size,
)
from msinn_app.views import Views


@pytest.fixture
def lane():
    scheduler = Scheduler("session-test", workers=1)
    yield scheduler
    scheduler.close()


@pytest.fixture
def refine_lane():
    scheduler = Scheduler("refine-test", workers=1, background_workers=0)
    yield scheduler
    scheduler.close()


@pytest.fixture
def serving(lane, refine_lane):
    classic = Scheduler("classic-test", workers=1, background_workers=0)
    yield Serving(model=lane, classic=classic, refine=refine_lane, live=LiveSessions(2))
    classic.close()


@pytest.fixture
def session(tiny_codec, small_image, serving, tmp_path) -> ImageSession:
    return ImageSession(tiny_codec, small_image, serving, files=FileStore(tmp_path / "files", 1 << 30))


@pytest.fixture
def few_steps(monkeypatch):
    """Effort 1 as a 4-step search (the real levels take tens of seconds per Kodak image)."""
    monkeypatch.setitem(EFFORTS, 1, (4, 0.01))


def test_grid_rates_cover_the_range_ends_first():
    rates = grid_rates((0.0, 11.0))
    assert sorted(rates) == [i / 2 for i in range(23)]
    assert rates[:2] == [0.0, 11.0]


def test_a_large_image_gets_a_coarser_grid_that_still_ends_at_the_top_rate():
    assert grid_step(LARGE_PIXELS) == GRID_STEP and grid_step(LARGE_PIXELS + 1) == 2 * GRID_STEP
    assert sorted(grid_rates((0.0, 11.0), grid_step(VIEW_MAX_PIXELS))) == [float(i) for i in range(12)]
    assert sorted(grid_rates((0.0, 3.5), 1.0)) == [0.0, 1.0, 2.0, 3.0, 3.5]


@pytest.fixture
def large_at_1000_pixels(monkeypatch):
    """Images above 1000 px count as large (the real bound is 1 MP)."""
    monkeypatch.setattr(msinn_app.session, "LARGE_PIXELS", 1000)


def test_a_large_images_grid_is_every_1_0_rate(tiny_codec, small_image, serving, lane, large_at_1000_pixels):
    session = ImageSession(tiny_codec, small_image, serving)
    assert session.large
    session.start_grid()
    assert wait_idle(lane, session.owner, 120)
    lo, hi = tiny_codec.rate_range
    assert sorted(r.rate for r in session.cache.results()) == sorted(grid_rates((lo, hi), 2 * GRID_STEP))


@pytest.mark.parametrize(("size", "expected"), [((3000, 1000), (VIEW_MAX_SIDE, 682)), ((1800, 1800), (1414, 1414))])
def test_large_images_are_downscaled_with_a_notice(size, expected):
    image, notice = limit_size(Image.new("RGB", size))
    assert image.size == expected and image.width * image.height <= VIEW_MAX_PIXELS
    assert f"{size[0]}×{size[1]}" in notice


def test_small_images_are_kept_as_they_are(small_image):
    image, notice = limit_size(small_image)
    assert image is small_image and notice is None


def test_session_result_is_the_codecs_and_is_cached(session, tiny_codec, small_image):
    result = session.encode(1.3)
    assert result.data == tiny_codec.encode(small_image, 1.3).data
    assert session.encode(1.3) is result
    assert session.nearest(1.45) is result and session.nearest(3.0) is result


def test_exact_decodes_the_file_and_keeps_bits_of_the_latest_only(session, tiny_codec):
    first = session.exact(1.0)
    assert first.decode_s > 0 and first.encoded.bits
    assert tiny_codec.decompress(first.data).tobytes() == first.image.tobytes()
    second = session.exact(2.0)
    assert second.encoded.bits and not session.cached(1.0).encoded.bits
    assert session.cached(1.0).decode_s == first.decode_s


def test_the_grid_fills_in_the_background_and_gives_the_rd_curve_in_rate_order(session, lane):
    session.start_grid([2.0, 0.0, 1.0])
    assert wait_idle(lane, session.owner, 60)
    results = session.cache.results()
    assert [r.rate for r in results] == [0.0, 1.0, 2.0]
    assert [r.bpp for r in results] == sorted(r.bpp for r in results)
    assert all(session.files(r)[1].exists() for r in results)  # PNGs written by the grid


def test_closing_drops_the_queued_grid(session, lane):
    session.start_grid(np.arange(0.0, 3.01, 0.25))
    session.close()
    assert wait_idle(lane, session.owner, 60)
    assert session.cache.results() == [] and not session.busy


@pytest.mark.parametrize("fraction", [0.25, 0.6])
def test_rate_for_bpp_lands_on_the_step_grid_near_the_target(session, fraction):
    lo, hi = session.encode(0.0).bpp, session.encode(3.0).bpp
    target = lo * (hi / lo) ** fraction
    tried = []
    result = session.rate_for_bpp(target, step=0.05, on_try=tried.append)
    assert result.bpp == pytest.approx(target, rel=0.1)
    assert all(abs(r / 0.05 - round(r / 0.05)) < 1e-6 for r in [*tried, result.rate])
    assert session.cached(result.rate) is result


def test_rate_for_bpp_beyond_the_range_returns_the_nearest_end(session, tiny_codec):
    lo, hi = tiny_codec.rate_range
    assert session.rate_for_bpp(1e-6).rate == lo
    assert session.rate_for_bpp(1e6).rate == hi


# File store -------------------------------------------------------------------------------


def _write(n: int):
    return lambda path: path.write_bytes(b"x" * n)


def test_file_store_evicts_the_oldest_files_beyond_its_cap(tmp_path):
    store = FileStore(tmp_path, max_bytes=250)
    paths = [store.ensure("a", f"{i}.bin", _write(100)) for i in range(2)]
    newest = store.ensure("b", "2.bin", _write(100))
    assert not paths[0].exists() and paths[1].exists() and newest.exists()
    assert store.total_bytes == 200
    big = store.ensure("c", "big.bin", _write(1000))  # over the cap alone: kept, all others out
    assert big.exists() and not paths[1].exists() and not newest.exists()


def test_file_store_rewrites_an_evicted_file_and_removes_a_folder(tmp_path):
    store = FileStore(tmp_path, max_bytes=150)
    first = store.ensure("a", "one.bin", _write(100))
    store.ensure("b", "two.bin", _write(100))
    assert not first.exists()
    assert store.ensure("a", "one.bin", _write(100)).exists()
    store.remove("a")
    assert not (tmp_path / "a").exists() and store.total_bytes == 0
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no partial files left


def test_closing_an_old_session_again_leaves_the_owners_new_image_alone(tiny_codec, small_image, serving, lane):
    old = ImageSession(tiny_codec, small_image, serving, owner="tab")
    old.close()
    new = ImageSession(tiny_codec, small_image, serving, owner="tab")
    new.start_grid([0.0, 1.0])
    old.close()  # e.g. evicted as the oldest live session
    assert wait_idle(lane, "tab", 60)
    assert [r.rate for r in new.cache.results()] == [0.0, 1.0]


def test_starting_a_grid_beyond_the_live_bound_closes_the_oldest_session(tiny_codec, small_image, serving):
    sessions = [ImageSession(tiny_codec, small_image, serving) for _ in range(3)]  # the bound is 2
    for s in sessions:
        s.start_grid([])
    assert [s.closed for s in sessions] == [True, False, False]


def test_without_a_kept_analysis_the_files_are_the_same(tiny_codec, small_image, serving):
    """ZeroGPU's way (no tensors kept between model calls) codes the same bytes."""
    kept = ImageSession(tiny_codec, small_image, serving)
    redone = ImageSession(ZeroGPUCodec(tiny_codec, gpu=lambda fn: fn), small_image, serving)
    assert redone.source is redone.image
    assert redone.exact(1.5).data == kept.exact(1.5).data


# Refinement (effort 1, 2) ------------------------------------------------------------------


def test_refine_gives_the_effort_file_decoded_and_kept_apart_from_effort_0(session, tiny_codec, small_image, few_steps):
    base = session.exact(1.5)
    steps = []
    refined = session.refine(1.5, 1, progress=lambda step, total: steps.append((step, total)))
    assert steps == [(i, 4) for i in range(5)]
    assert refined.effort == 1 and refined.decode_s > 0 and refined.encoded.bits
    assert refined.data == tiny_codec.encode(small_image, 1.5, effort=1).data  # the library's file
    assert tiny_codec.decompress(refined.data).tobytes() == refined.image.tobytes()
    assert session.refine(1.5, 1) is refined  # cached: no second search
    # the rate cache, the grid's source and the RD curve stay effort 0
    assert session.cached(1.5).data == base.data and session.cache.results() == [session.cached(1.5)]
    assert session.refined_by_effort() == {1: [refined]}
    files, base_files = session.files(refined), session.files(base)
    assert {p.name for p in files} == {"msinn-rate1.50-effort1.msn", "msinn-rate1.50-effort1.png"}
    assert not set(files) & set(base_files)
    assert files[0].read_bytes() == refined.data and base_files[0].read_bytes() == base.data


def test_a_search_that_finds_nothing_better_codes_the_effort_0_file(session, monkeypatch):
    """Refinement never codes worse latents than the analysis: if no step beats them (here a
    search that cannot move), the file is the effort-0 file."""
    monkeypatch.setitem(EFFORTS, 1, (4, 0.0))
    assert session.refine(2.0, 1).data == session.encode(2.0).data


def test_closing_the_session_stops_a_running_refinement(session, refine_lane, monkeypatch):
    monkeypatch.setitem(EFFORTS, 1, (1000, 0.01))
    steps = []

    def progress(step: int, total: int) -> None:
        steps.append(step)
        if step == 2:
            session.close()  # the tab closed, or a new image replaced this one

    start = time.perf_counter()
    with pytest.raises(CancelledError):
        session.refine(1.0, 1, progress=progress)
    assert steps == [0, 1, 2] and time.perf_counter() - start < 30
    assert wait_idle(refine_lane, session.owner, 10) and session.refined(1.0, 1) is None


def test_a_newer_refine_request_stops_the_running_one(session, refine_lane, monkeypatch):
    monkeypatch.setitem(EFFORTS, 1, (1000, 0.01))
    newer = {}
    thread = threading.Thread(target=lambda: newer.update(result=session.refine(2.5, 1)))

    def progress(step: int, total: int) -> None:
        if step == 1:  # the visitor asks for another rate meanwhile
            monkeypatch.setitem(EFFORTS, 1, (3, 0.01))
            thread.start()
            while not refine_lane.pending(session.owner):
                time.sleep(0.01)

    with pytest.raises(CancelledError):
        session.refine(0.5, 1, progress=progress)
    thread.join(30)
    assert newer["result"].rate == 2.5 and session.refined(0.5, 1) is None


@pytest.mark.parametrize("effort", [0, 3, True])
def test_refine_needs_an_effort_level_above_0(session, effort):
    with pytest.raises(ValueError, match="effort"):
        session.refine(1.0, effort)


# Classic codecs on the session's image ------------------------------------------------------


def test_classic_points_and_a_matched_bpp_are_coded_on_the_classic_lane(session, serving, monkeypatch):
    lanes = []
    run = serving.classic.run
    monkeypatch.setattr(serving.classic, "run", lambda owner, fn, *a, **k: lanes.append(owner) or run(owner, fn, *a, **k))
    point = session.classic.measure("jpeg", 50)
    assert point.data == get_codec("jpeg").compress(session.image, 50)
    assert session.classic.curves() == [{"key": "jpeg", "name": get_codec("jpeg").label, "bpp": [point.bpp], "psnr": [point.psnr]}]
    tried = []
    matched = session.classic.matched("jpeg", point.bpp, on_try=tried.append)
    assert matched.quality in tried and matched.reached and matched.bpp == pytest.approx(point.bpp, rel=0.1)
    assert len(lanes) == 1 + len(tried) + 1 and set(lanes) == {session.owner}  # every coding one job


def test_a_failing_classic_codec_is_noted_and_the_others_go_on(session, monkeypatch):
    measure = PillowCodec.measure

    def broken(self, image, quality):
        if self.name == "jpeg":
            raise BaselineError("ffmpeg exited with status 1\nand more")
        return measure(self, image, quality)

    monkeypatch.setattr(PillowCodec, "measure", broken)
    assert session.classic.measure("jpeg", 50) is None
    assert session.classic.errors == {"jpeg": "ffmpeg exited with status 1"}
    assert session.classic.measure("webp", 50) is not None
    assert session.classic.done("jpeg", 90) and session.classic.done("webp", 50) and not session.classic.done("webp", 75)


def test_once_the_grid_is_done_vvc_and_hevc_code_the_image_in_the_background(tiny_codec, small_image, lane, refine_lane,
                                                                             monkeypatch):  # fmt: skip
    classic = Scheduler("classic-background", workers=1, background_workers=1)
    session = ImageSession(tiny_codec, small_image, Serving(model=lane, classic=classic, refine=refine_lane))
    grid_done_first = []
    measure = FFmpegCodec.measure

    def measured(self, image, quality):
        grid_done_first.append(all(session.cached(rate) is not None for rate in (0.0, 1.0)))
        return measure(self, image, quality)

    monkeypatch.setattr(FFmpegCodec, "measure", measured)
    try:
        session.start_grid([0.0, 1.0])
        deadline = time.monotonic() + 120
        while session.busy and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not session.busy
        curves = {curve["key"]: curve for curve in session.classic.curves()}
        assert set(curves) == set(BACKGROUND) and all(len(curves[k]["bpp"]) == len(SWEEPS[k]) for k in BACKGROUND)
        assert len(grid_done_first) == sum(len(SWEEPS[k]) for k in BACKGROUND) and all(grid_done_first)
        session.classic.measure("vvc", SWEEPS["vvc"][0])  # asked for again (the compare button): not coded again
        assert len(grid_done_first) == sum(len(SWEEPS[k]) for k in BACKGROUND)
    finally:
        classic.close()


def test_each_solid_curve_of_the_rd_plot_has_its_dashed_kodak_average(session):
    for rate in (0.0, 1.0):
        session.encode(rate)
    for name in ("jpeg", "jxl"):  # as the compare button adds them; JPEG XL has no published average
        session.classic.measure(name, 50)
    lines = Views(None, "msinn-lite").rd_figure(session, None).axes[0].get_lines()
    solid = {codec_family(line.get_label()) for line in lines if line.get_linestyle() == "-" and len(line.get_xdata())}
    dashed = {codec_family(line.get_label()) for line in lines if line.get_linestyle() == "--"}
    assert solid == {"msinn", "jpeg", "jxl"}
    assert dashed == solid | {"vvc", "hevc", "msinn-vrlic"}  # the published VVC, HEVC and paper curves always

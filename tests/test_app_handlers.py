"""The demo's event handlers called directly (no server, no browser), with the shipped model:
every path that sets a rate ends at the exact result, the downloads are the shown result,
refining shows the refined file only where it belongs, odd input gets a plain answer, and a
tab's files and work go when the tab goes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from conftest import ASSETS
from PIL import Image

import msinn
import msinn_app.session
from msinn import plots
from msinn.bitstream import unpack
from msinn.image import load_image
from msinn.refine import EFFORTS
from msinn_app import FileStore, Handlers, Serving, build_demo
from msinn_app.handlers import SETTLE_S
from msinn_app.scheduler import wait_idle
from msinn_app.tab import Tab

IMAGE = ASSETS / "kodim23_160x104.png"


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Handlers:
    """The demo built on the shipped model (not app.py's: its own lanes and file store)."""
    serving = Serving.create()
    files = FileStore(tmp_path_factory.mktemp("files"), 1 << 30)
    _, handlers = build_demo(msinn.load(device="cpu"), serving, files)
    yield handlers
    serving.close()


@pytest.fixture
def viewer(app):
    viewer = Tab()
    yield viewer
    viewer.close()


def last(updates) -> dict:
    """Run a handler's generator to the end; the union of its updates (later ones winning),
    without the outputs it left unchanged."""
    merged = {}
    for update in updates:
        merged |= {k: v for k, v in update.items() if v != gr.skip()}
    return merged


def loaded(app, viewer, image=None, rate=5.0) -> dict:
    return last(app.load_image(image or load_image(IMAGE), viewer, rate, None))


def path(button: gr.DownloadButton) -> str:
    """The file a download button offers."""
    return button.value["path"] if isinstance(button.value, dict) else button.value


def shown_files(app, out: dict) -> tuple[bytes, Image.Image]:
    msn, png = out[app.c.download_msn], out[app.c.download_png]
    assert msn.interactive and png.interactive
    with Image.open(path(png)) as im:
        return open(path(msn), "rb").read(), im.convert("RGB")


def check_exact(app, out: dict, rate: float) -> None:
    """The readouts, the .msn and the PNG offered are all the file coded at ``rate``."""
    data, png = shown_files(app, out)
    header, _ = unpack(data)
    assert header.rate == app.codec.check_rate(rate)
    assert data == app.codec.encode(load_image(IMAGE), rate).data
    assert png.tobytes() == app.codec.decompress(data).tobytes()
    assert f"**Rate {rate:.2f}** · " in out[app.c.readouts]
    assert f"| {8 * len(data) / (png.width * png.height):.4f} |" in out[app.c.readouts]
    assert f"rate{rate:.2f}" in os.path.basename(path(out[app.c.download_msn]))


def test_a_new_image_ends_at_the_exact_result_with_details(app, viewer):
    out = loaded(app, viewer, rate=5.0)
    check_exact(app, out, 5.0)
    assert out[app.c.readouts].count(" s |") == 2  # encode and decode times: the file was decoded
    assert len(out[app.c.latents]) == 5 and out[app.c.heatmaps] is not None and out[app.c.rd_plot] is not None


def test_a_typed_rate_off_the_slider_grid_ends_at_the_exact_result_on_the_grid(app, viewer):
    loaded(app, viewer)
    app.preview_rate(viewer, 7.257)  # typing fires input events …
    out = last(app.settle_rate(viewer, 7.257))  # … and change events; nothing fires on Enter
    assert out[app.c.rate_slider] == 7.25  # the box shows the rate on the slider's step
    check_exact(app, out, 7.25)


def test_a_rate_already_shown_exactly_is_not_coded_again(app, viewer):
    loaded(app, viewer)
    check_exact(app, last(app.settle_rate(viewer, 3.5)), 3.5)
    assert last(app.settle_rate(viewer, 3.5)) == {}  # e.g. the change event of a value the app set


def test_a_newer_rate_wins_over_an_older_one(app, viewer):
    loaded(app, viewer)
    older = {}
    thread = threading.Thread(target=lambda: older.update(last(app.settle_rate(viewer, 2.0))))
    thread.start()
    time.sleep(SETTLE_S / 4)
    app.preview_rate(viewer, 9.0)  # the slider moved on while the older value settled
    thread.join()
    assert older == {}
    check_exact(app, last(app.settle_rate(viewer, 9.0)), 9.0)


def test_dragging_shows_the_nearest_cached_result_and_its_files(app, viewer):
    loaded(app, viewer, rate=5.0)
    out = app.preview_rate(viewer, 5.6)
    assert "preview: nearest computed rate" in out[app.c.readouts] and "**Rate 5.00**" in out[app.c.readouts]
    data, _ = shown_files(app, out)
    assert unpack(data)[0].rate == 5.0  # the downloads are the result shown, not the slider's rate


@pytest.mark.parametrize(
    ("target", "expected"),
    [(1e-4, "lowest reachable here"), (50.0, "highest reachable here"), (0.8, "closest to the target 0.8 bpp")],
)
def test_the_target_bpp_search_says_what_it_shows(app, viewer, target, expected):
    loaded(app, viewer)
    out = last(app.find_rate_for_bpp(viewer, target))
    rate = out[app.c.rate_slider]
    assert abs(rate / app.rate_step - round(rate / app.rate_step)) < 1e-9
    assert expected in out[app.c.readouts]
    check_exact(app, out, rate)


@pytest.mark.parametrize("target", [None, 0.0, -1.0])
def test_a_missing_target_bpp_gets_a_plain_message(app, viewer, target):
    loaded(app, viewer)
    with pytest.raises(gr.Error) as error:
        last(app.find_rate_for_bpp(viewer, target))
    assert error.value.message == "Enter a target size in bits per pixel, a number above 0."


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (1, 700), (700, 1)])
def test_odd_sizes_are_coded_and_shown_at_their_own_size(app, viewer, size):
    image = load_image(IMAGE).resize(size, Image.Resampling.BOX)
    out = loaded(app, viewer, image=image, rate=4.0)
    data, png = shown_files(app, out)
    assert png.size == size
    assert png.tobytes() == app.codec.decompress(data).tobytes()
    assert len(out[app.c.latents]) == 5


def test_an_error_while_drawing_reaches_the_visitor_plainly_and_the_tab_stays_usable(app, viewer, monkeypatch):
    loaded(app, viewer)

    def broken(enc):
        raise RuntimeError("figure exploded")

    monkeypatch.setattr(plots, "bit_heatmaps", broken)
    with pytest.raises(gr.Error) as error:
        last(app.settle_rate(viewer, 6.0))
    assert error.value.message.startswith("Something went wrong here (RuntimeError: figure exploded).")
    monkeypatch.undo()
    check_exact(app, last(app.settle_rate(viewer, 6.5)), 6.5)


def test_closing_the_tab_deletes_its_files_and_stops_its_work(app, viewer):
    loaded(app, viewer)
    session = viewer.session
    folder = app.files.folder(session.id)
    assert any(folder.iterdir())

    class Request:  # what the unload event passes
        session_hash = "closing-tab"

    app.tabs.register(viewer, Request.session_hash)
    app.tab_closed(Request())
    assert not folder.exists()
    assert wait_idle(session.lane, viewer.id, 60) and session.closed and not session.busy
    assert "closing-tab" not in app.tabs.tabs


def test_a_new_image_in_the_same_tab_deletes_the_old_images_files(app, viewer):
    loaded(app, viewer)
    old = app.files.folder(viewer.session.id)
    loaded(app, viewer, image=load_image(IMAGE).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert not old.exists() and app.files.folder(viewer.session.id).exists()


def test_downloads_are_inactive_until_a_result_exists(app, viewer):
    assert not app.c.download_msn.interactive and not app.c.download_png.interactive
    loaded(app, viewer)
    out = last(app.load_image(None, viewer, 5.0, None))
    assert not out[app.c.download_msn].interactive and out[app.c.download_msn].value is None


# Refine ------------------------------------------------------------------------------------


class Steps:
    """A stand-in for gr.Progress: records the search steps reported and runs ``at_step[k]``
    when step k is reported (what the visitor does meanwhile)."""

    def __init__(self, **at_step):
        self.seen, self.at_step = [], {int(k.removeprefix("step")): v for k, v in at_step.items()}

    def __call__(self, value, desc=None, **kwargs):
        if isinstance(value, tuple):
            self.seen.append(value[0])
            if value[0] in self.at_step:
                self.at_step[value[0]]()


@pytest.fixture
def few_steps(monkeypatch):
    monkeypatch.setitem(EFFORTS, 1, (4, 0.01))


def test_refine_shows_the_refined_file_its_saving_and_then_the_slider_is_effort_0_again(app, viewer, few_steps):
    base_out = loaded(app, viewer, rate=5.0)
    base_data, _ = shown_files(app, base_out)
    steps = Steps()
    out = app.refine_rate(viewer, 5.0, 1, progress=steps)
    assert steps.seen == [0, 1, 2, 3, 4]
    data, png = shown_files(app, out)
    assert data == app.codec.encode(load_image(IMAGE), 5.0, effort=1).data
    assert png.tobytes() == app.codec.decompress(data).tobytes()
    text = out[app.c.readouts]
    assert "**Rate 5.00** · refined, effort 1: " in text
    assert f"| {8 * len(data) / (png.width * png.height):.4f} |" in text and f"| {len(data):,} B |" in text
    saved = len(base_data) - len(data)
    assert f"{abs(saved):,} B ({abs(saved) / len(base_data):.1%}) {'smaller' if saved >= 0 else 'larger'}" in text
    versus = text.split("refined, effort 1: ", 1)[1].splitlines()[0]
    assert f"than at effort 0 ({len(base_data):,} B," in versus and versus in out[app.c.refine_status]
    names = {os.path.basename(path(out[b])) for b in (app.c.download_msn, app.c.download_png)}
    assert names == {"msinn-rate5.00-effort1.msn", "msinn-rate5.00-effort1.png"}
    assert Path(path(base_out[app.c.download_msn])).read_bytes() == base_data  # effort 0's file untouched
    assert len(out[app.c.latents]) == 5 and out[app.c.heatmaps] is not None
    assert last(app.settle_rate(viewer, 5.0)) == {}  # the slider's own change event leaves it shown
    check_exact(app, last(app.settle_rate(viewer, 5.5)), 5.5)
    check_exact(app, last(app.settle_rate(viewer, 5.0)), 5.0)  # back at 5.0: effort 0, as the slider is


def test_a_refinement_finished_after_the_slider_moved_is_not_shown(app, viewer, few_steps):
    loaded(app, viewer, rate=5.0)
    out = app.refine_rate(viewer, 5.0, 1, progress=Steps(step2=lambda: app.preview_rate(viewer, 6.0)))
    assert set(out) == {app.c.refine_status}
    assert "Refined rate 5.00 at effort 1" in out[app.c.refine_status] and "Back at rate 5.00" in out[app.c.refine_status]
    assert viewer.shown.effort == 0 and viewer.requested == 6.0  # the preview nearest to 6.0 stays
    check_exact(app, last(app.settle_rate(viewer, 5.0)), 5.0)
    steps = Steps()
    again = app.refine_rate(viewer, 5.0, 1, progress=steps)  # made already: shown at once
    assert steps.seen == [] and "refined, effort 1" in again[app.c.readouts]


def test_a_new_image_while_refining_stops_it_and_shows_only_the_new_image(app, viewer, monkeypatch):
    monkeypatch.setitem(EFFORTS, 1, (1000, 0.01))
    loaded(app, viewer, rate=5.0)
    flipped = load_image(IMAGE).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    steps = Steps(step2=lambda: loaded(app, viewer, image=flipped, rate=5.0))
    assert app.refine_rate(viewer, 5.0, 1, progress=steps) == {app.c.refine_status: gr.skip()}
    assert steps.seen == [0, 1, 2] and viewer.shown.effort == 0
    assert viewer.shown.data == app.codec.encode(flipped, 5.0).data


def test_closing_the_tab_stops_its_refinement(app, viewer, monkeypatch):
    monkeypatch.setitem(EFFORTS, 1, (1000, 0.01))
    loaded(app, viewer)
    session = viewer.session

    class Request:
        session_hash = "refining-tab"

    app.tabs.register(viewer, Request.session_hash)
    steps = Steps(step2=lambda: app.tab_closed(Request()))
    assert app.refine_rate(viewer, 5.0, 1, progress=steps) == {app.c.refine_status: gr.skip()}
    assert steps.seen == [0, 1, 2] and session.closed
    assert wait_idle(session.serving.refine, viewer.id, 10) and not app.files.folder(session.id).exists()


def test_refine_without_an_image_gets_a_plain_message(app, viewer):
    with pytest.raises(gr.Error) as error:
        app.refine_rate(viewer, 5.0, 1)
    assert error.value.message == "Upload an image first."


def test_the_demo_builds_and_codes_on_any_model(tiny_codec, small_image, tmp_path):
    """No app.py and no shipped weights: the page and its handlers on a tiny random model."""
    serving = Serving.create()
    try:
        _, handlers = build_demo(tiny_codec, serving, FileStore(tmp_path, 1 << 30), name="tiny")
        tab = Tab()
        out = last(handlers.load_image(small_image, tab, 1.0, None))
        data, png = shown_files(handlers, out)
        assert data == tiny_codec.encode(small_image, 1.0).data
        assert png.tobytes() == tiny_codec.decompress(data).tobytes()
        tab.close()
    finally:
        serving.close()


def test_a_large_image_gets_a_note_on_what_it_costs(app, viewer, monkeypatch):
    monkeypatch.setattr(msinn_app.session, "LARGE_PIXELS", 1000)  # the test image counts as large
    out = loaded(app, viewer)
    first = viewer.session.cached(5.0)
    assert f"took {first.encode_s:.1f} s to code and {first.decode_s:.1f} s to decode" in out[app.c.notice]
    assert "rates 1 apart (not 0.5)" in out[app.c.notice]
    monkeypatch.setattr(msinn_app.session, "LARGE_PIXELS", 1_000_000)
    assert loaded(app, viewer)[app.c.notice] == ""  # a small image: no note

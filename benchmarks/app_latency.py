"""Latency of the demo app's handlers for one 768×512 upload (Kodak's kodim23).

Times the handlers app.py binds to events, plus gradio's postprocessing of what they
return (image files, plots), next to the library's raw encode + decode:

- upload → first reconstruction: ``load_image`` up to its first yield (analysis, encode,
  metrics, PNG files), cold (first image in the process) and again;
- release: ``compress_at_rate`` up to its first yield (exact encode at a new rate), while
  the background grid is still filling and once it is done; then the complete handler
  (decode, latents, bit heatmaps, RD plot);
- cached slider step: ``preview_rate`` at rates the cache holds (the nearest result).

Bars: cached step < 0.1 s, release < 2 s, upload → first reconstruction < 3 s. Run from
the repository root (on a busy machine, with nice):

    nice -n 5 python -m benchmarks.app_latency
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import app  # noqa: E402  (after the environment is set)
from msinn.image import load_image  # noqa: E402

KODIM23 = Path(app.__file__).resolve().parent / "assets" / "examples" / "kodim23.png"
VIEW = [app.reconstruction, app.before_after, app.readouts]
DETAILS = [app.download_msn, app.download_png, app.latents, app.heatmaps, app.rd_plot, app.zoom, app.plotted]


def timed(fn: Callable[[], tuple], components: Sequence) -> tuple[float, tuple]:
    """Seconds to run ``fn`` and postprocess its outputs as gradio would, and the outputs."""
    start = time.perf_counter()
    values = fn()
    for component, value in zip(components, values[-len(components) :], strict=True):
        if not isinstance(value, dict):  # gr.skip()
            component.postprocess(value)
    return time.perf_counter() - start, values


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s" if len(values) > 1 else f"{values[0]:.3f} s"


def report(name: str, seconds: list[float], library: list[float], bar: float | None = None) -> None:
    """One line: median of ``seconds``, of the library's equivalent, and the bar."""
    verdict = "" if bar is None else ("✓ < " if statistics.median(seconds) < bar else "✗ ≥ ") + f"{bar:g} s"
    print(f"{name:<58} {median(seconds):>9} (n={len(seconds)})  {median(library):>9}   {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=KODIM23)
    args = parser.parse_args()
    image = load_image(args.image)
    codec, rate = app.codec, app.DEFAULT_RATE
    print(f"{args.image.name} {image.width}x{image.height}, weights {codec.name}, device {codec.device}, "
          f"torch threads {app.torch.get_num_threads()}\n")  # fmt: skip

    # Library: analysis, encode and decode at the app's rates, no app around it.
    prep_s, encode_s, decode_s = [], [], []
    for r in (rate, 2.35, 6.85):
        start = time.perf_counter()
        prep = codec.prepare(image)
        prep_s.append(time.perf_counter() - start)
        enc = codec.encode(prep, r, details=True)
        encode_s.append(enc.encode_s)
        start = time.perf_counter()
        codec.decompress(enc.data)
        decode_s.append(time.perf_counter() - start)

    # Upload → first reconstruction, cold then warm; each starts its grid.
    upload_s, session, view = [], None, {}
    for _ in range(2):
        view = {"rate": None, "center": (0.5, 0.5)}
        steps = app.load_image(image, session, rate, view)
        seconds, outputs = timed(lambda steps=steps: next(steps), VIEW)
        upload_s.append(seconds)
        session = outputs[0]
        next(steps)  # the details, before the next upload

    def release(r: float) -> tuple[float, float]:
        steps = app.compress_at_rate(session, r, view)
        return timed(lambda: next(steps), [*VIEW, *DETAILS])[0], timed(lambda: next(steps), [*VIEW, *DETAILS])[0]

    busy_release = [release(r)[0] for r in (4.15, 7.65)]
    while session.busy:
        time.sleep(0.2)
    releases = [release(r) for r in (2.35, 6.85, 9.05, 5.15)]
    steps_s = [timed(lambda r=r: app.preview_rate(session, r.rate + 0.02, view), VIEW)[0] for r in session.results()]

    lib_prepare_encode = [a + b for a, b in zip(prep_s, encode_s, strict=True)]
    lib_all = [a + b for a, b in zip(lib_prepare_encode, decode_s, strict=True)]
    print(f"{'':<58} {'app':>9} {'':<6}  {'library':>9}   bar")
    report("analysis + encode + decode (library only)", lib_all, lib_all)
    report(
        "cached slider step (vs encode + decode)",
        steps_s,
        [a + b for a, b in zip(encode_s, decode_s, strict=True)],
        0.1,
    )
    report("release → exact result, grid done (vs encode)", [first for first, _ in releases], encode_s, 2.0)
    report("release → exact result, grid filling", busy_release, encode_s, 2.0)
    report("release → decode + latents/heatmaps/RD (vs decode)", [full for _, full in releases], decode_s)
    report("upload → first recon., first image (vs analysis + encode)", upload_s[:1], lib_prepare_encode, 3.0)
    report("upload → first recon., again", upload_s[1:], lib_prepare_encode, 3.0)


if __name__ == "__main__":
    main()

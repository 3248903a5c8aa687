"""How failures reach the visitor: one plain sentence, the tab left usable.

Bad input (ValueError, e.g. a BitstreamError or a bad rate) shows its own first line; anything
else a short notice (the traceback goes to the log); work dropped for a newer request
(CancelledError) ends quietly."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable

import gradio as gr
from PIL import Image

from . import text
from .scheduler import CancelledError

log = logging.getLogger("msinn.app")


def _message(handler: Callable, e: Exception) -> gr.Error:
    if isinstance(e, ValueError):
        return gr.Error(str(e).splitlines()[0], print_exception=False)
    log.exception("handler %s failed", handler.__name__)
    return gr.Error(text.unexpected(e), print_exception=False)


def plain_errors(unchanged: gr.components.Component) -> Callable[[Callable], Callable]:
    """Handler decorator (see the module). A generator handler ends with one more update,
    "``unchanged``: no change": gradio applies a generator's last update again when it ends
    (which would bring back a result that a newer request has replaced meanwhile), and blanks
    every output of a generator that yielded nothing."""

    def decorate(handler: Callable) -> Callable:
        if inspect.isgeneratorfunction(handler):

            @functools.wraps(handler)
            def generator(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except gr.Error:
                    raise
                except CancelledError:
                    pass
                except Exception as e:
                    raise _message(handler, e) from None
                yield {unchanged: gr.skip()}

            return generator

        @functools.wraps(handler)
        def function(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except gr.Error:
                raise
            except CancelledError:
                return {unchanged: gr.skip()}
            except Exception as e:
                raise _message(handler, e) from None

        return function

    return decorate


def readable_upload(image_input: gr.Image) -> None:
    """A file Pillow cannot read (or only partly: the pixels are loaded here) ends in a
    message, not a traceback. (A gr.Image subclass would do the same, but gradio writes a .pyi
    stub next to the module of every component class.)"""
    preprocess = image_input.preprocess

    @functools.wraps(preprocess)
    def checked(payload):
        try:
            image = preprocess(payload)
            if image is not None:
                image.load()
            return image
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # Pillow's errors for bad files
            raise gr.Error(text.UNREADABLE, print_exception=False) from None

    image_input.preprocess = checked


def readable_rate(rate_input: gr.Slider, check_rate: Callable[[float], float]) -> None:
    """An empty, non-numeric, NaN or out-of-range API rate ends in the codec's one plain
    sentence (gradio's own check fails with a bare "Error" on text or null)."""
    preprocess = rate_input.preprocess

    @functools.wraps(preprocess)
    def checked(payload):
        try:
            check_rate(payload)
        except ValueError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return preprocess(float(payload))

    rate_input.preprocess = checked

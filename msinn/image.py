"""Images in and out: the one rule for PIL modes and EXIF, tensors, and the pad/crop pair.

The rule (``to_rgb``), applied to every input image:
1. EXIF orientation is applied (the pixels are turned the way a viewer shows them);
2. animated images: the first frame;
3. 16-bit and 32-bit integer greys are scaled to 8 bits (value >> 8 for 16-bit data),
   float images are clipped to [0, 255];
4. transparency (RGBA, LA, PA, P with a transparent colour) is composited over white;
5. everything else (L, 1, P, CMYK, YCbCr, LAB, HSV, …) is converted by Pillow to 8-bit RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".gif"}
MAX_SIDE = 16384  # pixels per side, for encoding and in the bitstream header
MAX_PIXELS = 1 << 26  # 64 megapixels (67,108,864)


def check_size(width: int, height: int) -> None:
    """Raise ValueError unless 1 ≤ side ≤ MAX_SIDE and width·height ≤ MAX_PIXELS."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image size {width}x{height} outside 1..{MAX_SIDE} pixels per side")
    if width * height > MAX_PIXELS:
        raise ValueError(f"image of {width * height:,} pixels exceeds the limit of {MAX_PIXELS:,}")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image → 8-bit RGB by the module's rule (the image itself if it is upright RGB already)."""
    if getattr(image, "is_animated", False):
        image.seek(0)
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:  # exif_transpose would copy even when upright
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image).astype(np.int64)
        shift = 8 if mode.startswith("I;16") or arr.max() > 255 else 0
        image = Image.fromarray((arr >> shift).clip(0, 255).astype(np.uint8))
    elif mode == "F":
        image = Image.fromarray(np.asarray(image).clip(0, 255).astype(np.uint8))
    elif mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image if image.mode == "RGB" else image.convert("RGB")  # an RGB input is not copied (12 MP: 36 MB)


def load_image(source: str | Path | Image.Image) -> Image.Image:
    """Open a path (or take a PIL image) and apply :func:`to_rgb`; ValueError if unreadable."""
    if isinstance(source, Image.Image):
        return to_rgb(source)
    try:
        with Image.open(source) as im:
            im.load()
            rgb = to_rgb(im)
            return rgb.copy() if rgb is im else rgb  # closing the file frees im's pixels
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read image {source}: {e}") from e


def to_tensor(image: Image.Image, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """RGB PIL image → (1, 3, H, W); float in [0, 1], or uint8 with dtype=torch.uint8."""
    t = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None]
    return t if dtype == torch.uint8 else t.to(dtype).div_(255)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] → uint8, rounded: the decoder's last step, applied tile by tile
    (msinn/postfilter.py), so that a large image never needs a second float copy."""
    return x.clamp(0, 1).mul_(255).round_().to(torch.uint8)


def to_image(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) uint8 pixels (:func:`to_pixels`) → RGB PIL image."""
    return Image.fromarray(x[0].permute(1, 2, 0).cpu().numpy())


def pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right, repeating the edge pixels (cheaper to code
    than zeros), up to multiples of ``multiple``. :func:`crop` undoes it."""
    h, w = x.shape[2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`pad`: the top-left height×width."""
    return x[:, :, :height, :width]

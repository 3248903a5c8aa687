"""MSINN: a multi-scale invertible-network, variable-rate learned image codec.

    import msinn
    codec = msinn.load()
    data = codec.compress(image, rate=3.5)
    image = codec.decompress(data)
    result = msinn.measure(codec, image, 3.5)   # bpp, PSNR, MS-SSIM and times of the real file
"""

import warnings

# compressai imports torch.jit.script at import time, which warns on current torch.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from .bitstream import BitstreamError  # noqa: E402
from .codec import Codec, Decoder, Encoded, Prepared, load, load_decoder, model_for, shipped_models  # noqa: E402
from .config import CONFIGS, MSINNConfig  # noqa: E402
from .measurement import Measured, decode_checked, measure  # noqa: E402
from .metrics import bits_per_pixel  # noqa: E402

__all__ = [
    "BitstreamError", "Codec", "CONFIGS", "Decoder", "Encoded", "MSINNConfig", "Measured", "Prepared",
    "bits_per_pixel", "decode_checked", "load", "load_decoder", "measure", "model_for", "shipped_models",
]  # fmt: skip
__version__ = "0.1.0"

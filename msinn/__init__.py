"""MSINN: a multi-scale invertible-network, variable-rate learned image codec.

    import msinn
    codec = msinn.load()
    data = codec.compress(image, rate=3.5)
    image = codec.decompress(data)
"""

import warnings

# compressai imports torch.jit.script at import time, which warns on current torch.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from .bitstream import BitstreamError  # noqa: E402
from .codec import Codec, Encoded, Prepared, load, model_for, shipped_models  # noqa: E402
from .config import CONFIGS, MSINNConfig  # noqa: E402

__all__ = ["BitstreamError", "Codec", "CONFIGS", "Encoded", "MSINNConfig", "Prepared", "load", "model_for", "shipped_models"]
__version__ = "0.1.0"

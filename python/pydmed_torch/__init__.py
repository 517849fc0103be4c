"""pydmed_torch: whole-slide images for training loops, from C++ process trees.

Slides (openslide-python's API over every reader the project has), and streams of patches or
sliding windows cut by collector processes in C++. The module links no torch: batches are
NumPy arrays, which torch.from_numpy shares without a copy, whatever torch is installed.
"""
from ._pydmed import (  # noqa: F401
    ChunkIterator,
    Infos,
    DatasetError,
    Error,
    OptionsError,
    Slide,
    SlideError,
    sliding_window,
    stream,
)

__all__ = ["Slide", "stream", "sliding_window", "ChunkIterator", "Infos", "Error", "SlideError", "DatasetError", "OptionsError"]

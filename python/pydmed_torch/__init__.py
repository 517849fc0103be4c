"""pydmed_torch: whole-slide images for training loops, from C++ process trees.

Slides (openslide-python's API over every reader the project has), PyDmed's datasets
(manifests, splits), and streams of patches or sliding windows cut by collector processes in
C++. A slide's path may be an http://, https:// or s3:// URL (set_remote_options for its caches).
The module links no torch: batches are NumPy arrays, which torch.from_numpy shares without
a copy, whatever torch is installed (pydmed_torch.torch has the IterableDataset).
"""
from ._pydmed import (  # noqa: F401
    ChunkIterator,
    Dataset,
    DatasetError,
    Error,
    Infos,
    OptionsError,
    Patient,
    Record,
    Slide,
    SlideError,
    StreamSettings,
    WindowSettings,
    dataset_from_source,
    read_manifest,
    set_remote_options,
    sliding_window,
    stream,
    write_manifest,
)

__all__ = ["Slide", "stream", "sliding_window", "StreamSettings", "WindowSettings", "ChunkIterator", "Infos",
           "Dataset", "Patient", "Record", "read_manifest", "write_manifest", "dataset_from_source",
           "set_remote_options", "Error", "SlideError", "DatasetError", "OptionsError"]

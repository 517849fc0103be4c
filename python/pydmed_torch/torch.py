"""pydmed_torch.torch: the loader as a torch.utils.data.IterableDataset, for any torch.

    ds = StreamDataset("slides/", batch_size=64, label="class", patch=224, mpp=0.5)
    for images, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        ...

Each item is a whole batch: `images` uint8 [B, H, W, 3] sharing memory with the batch the C++
loader gathered (no copy; pinned on request, for non_blocking copies to a GPU), `labels` int64
[B] (the patient label named by `label`, else -1), `infos` the records (dicts with the command
line's columns and "path"). The loader is its own pool of processes: DataLoader workers are
refused (num_workers=0). Under torchrun (RANK, WORLD_SIZE set) each rank streams its share of the
patients, as the C++ loader does.
"""
import os

import torch
from torch.utils.data import IterableDataset, get_worker_info

from . import _pydmed


class StreamDataset(IterableDataset):
    def __init__(self, source, batch_size, label=None, pin_memory=False, sliding_window=False, **options):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise _pydmed.OptionsError(f"option batch_size: must be a positive integer, not {batch_size!r}")
        self.source, self.batch_size, self.label = str(source), batch_size, label
        self.pin_memory, self.sliding_window, self.options = pin_memory, sliding_window, options
        self._open().close()  # the options and the source checked now, in one line, not at the first batch

    def _open(self):
        opts = dict(self.options)
        if self.label is not None:
            opts["label"] = self.label
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ and "rank" not in opts:
            opts["rank"], opts["world_size"] = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        make = _pydmed.sliding_window if self.sliding_window else _pydmed.stream
        return make(self.source, **opts)

    def __iter__(self):
        if get_worker_info() is not None:
            raise RuntimeError("pydmed_torch.torch.StreamDataset: DataLoader workers are refused (num_workers must be 0): "
                               "the loader is its own pool of collector processes")
        it = self._open()  # each iteration its own run: two at once do not share a tree
        try:
            while True:
                batch = it.next_batch(self.batch_size)
                if batch is None:
                    return
                images, infos = batch
                x = torch.from_numpy(images)
                if self.pin_memory:
                    x = x.pin_memory()
                labels = torch.tensor([info.get("label", -1) if self.label is not None else -1 for info in infos],
                                      dtype=torch.int64)
                yield x, labels, infos
        finally:
            it.close()

"""pydmed_torch.torch: the loader as a torch.utils.data.IterableDataset, for any torch.

    ds = StreamDataset("slides/", batch_size=64, label="class", patch=224, mpp=0.5)
    for images, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        ...

Each item is a whole batch: `images` uint8 [B, H, W, 3], the very memory the C++ loader
gathered the batch into (no copy; a new buffer each batch, from torch's allocator, so a buffer
is reused only once no tensor holds it; pinned with pin_memory=True, for non_blocking copies to
a GPU), `labels` int64 [B] (the patient label `label`, else the dataset's only label, or with
roi_classes each patch's annotation class, numbered as `label_names` says; -1: none), `infos`
an `Infos` view of the records (infos[i] a dict with the command line's columns and "path",
infos["x"] a column). The loader is its own pool of processes: DataLoader workers are refused
(num_workers=0). Under torchrun (RANK, WORLD_SIZE set) each rank streams its share of the
patients, as the C++ loader does.
"""
import os
import warnings

import torch
from torch.utils.data import IterableDataset, get_worker_info

from . import _pydmed


class StreamDataset(IterableDataset):
    def __init__(self, source, batch_size, label=None, roi_classes=None, pin_memory=False, sliding_window=False,
                 **options):
        super().__init__()
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise _pydmed.OptionsError(f"option batch_size: must be a positive integer, not {batch_size!r}")
        self.source = source if isinstance(source, _pydmed.Dataset) else os.fsdecode(source)
        self.batch_size, self.sliding_window = batch_size, sliding_window
        self.options = dict(options, label=label, roi_classes=roi_classes)
        self.options.setdefault("batch", batch_size)  # the tree gathers batches of the size asked for
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and not torch.cuda.is_available():
            warnings.warn("pydmed_torch.torch.StreamDataset: pin_memory=True but CUDA is not available: not pinned")
            self.pin_memory = False
        with self._open() as it:  # the options and the source checked now, in one line, not at the first batch
            self.label_names, self.patch_shape = list(it.label_names), tuple(it.patch_shape)

    def _open(self):
        opts = dict(self.options)
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ and opts.get("rank") is None:
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
                # The loader writes straight into the tensor's memory (numpy() shares it).
                images = torch.empty((self.batch_size,) + self.patch_shape, dtype=torch.uint8,
                                     pin_memory=self.pin_memory)
                batch = it.next_batch(self.batch_size, out=images.numpy())
                if batch is None:
                    return
                infos = batch[1]
                labels = torch.from_numpy(infos.labels)
                if len(infos) < self.batch_size:
                    images = images[:len(infos)]
                yield images, (labels.pin_memory() if self.pin_memory else labels), infos
        finally:
            it.close()

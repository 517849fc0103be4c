"""pydmed_torch.torch.StreamDataset through torch's DataLoader (Debian's torch 1.13 here; any
torch works: the module links none): the same patches as stream(), labels from the manifest,
workers refused, and a model that learns from the batches."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pydmed_torch as pt  # noqa: E402
from pydmed_torch.torch import StreamDataset  # noqa: E402

OPTS = dict(patch=64, bigchunk=512, collectors=1, seed=9, interval_resched=1e5)  # no timed swap: a fixed order


def labelled(sample_slides, tmp_path):
    m = tmp_path / "m.csv"
    m.write_text(f"patient_id,record:wsi,label:class\n0,{sample_slides}/slide_000.tiff,0\n1,{sample_slides}/slide_001.tiff,1\n")
    return m


def test_batches_are_the_stream_with_labels(sample_slides, tmp_path):
    m = labelled(sample_slides, tmp_path)
    ds = StreamDataset(pt.read_manifest(m), batch_size=16, label="class", count=100, **OPTS)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=None))
    assert [len(b[2]) for b in batches] == [16] * 6 + [4]
    images = torch.cat([b[0] for b in batches])
    assert images.dtype == torch.uint8 and images.shape == (100, 64, 64, 3)
    want = list(pt.stream(str(m), count=100, **OPTS))
    np.testing.assert_array_equal(images.numpy(), np.stack([w[0] for w in want]))
    infos = [i for b in batches for i in b[2]]
    assert [(i["patient"], i["x"], i["y"]) for i in infos] == [(w[1]["patient"], w[1]["x"], w[1]["y"]) for w in want]
    labels = torch.cat([b[1] for b in batches])
    assert labels.tolist() == [i["patient"] for i in infos]  # patient 0 is class 0, patient 1 class 1


def test_workers_are_refused_in_one_line(sample_slides):
    ds = StreamDataset(sample_slides, batch_size=8, count=8, **OPTS)
    with pytest.raises(RuntimeError, match="num_workers must be 0"):
        list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1))


def test_bad_options_fail_when_the_dataset_is_made(sample_slides):
    with pytest.raises(pt.OptionsError, match="option batch_size"):
        StreamDataset(sample_slides, batch_size=0)
    with pytest.raises(pt.OptionsError, match="option colectors: is not an option"):
        StreamDataset(sample_slides, batch_size=8, colectors=2)


def test_a_model_learns_from_the_batches(sample_slides):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ds = StreamDataset(sample_slides, batch_size=32, count=32 * 40, **OPTS)
    losses = []
    for images, _, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        x = images.permute(0, 3, 1, 2).float() / 255
        y = torch.tensor([i["patient"] for i in infos])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # it fits the labels of what it is fed


def halves(tmp_path):
    """Annotations splitting a 2048-pixel sample slide into a Stroma half and a Tumor half."""
    def square(x0, cls):
        ring = [[x0, 0], [x0 + 1024, 0], [x0 + 1024, 2048], [x0, 2048], [x0, 0]]
        return {"type": "Feature", "properties": {"classification": {"name": cls}},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}
    import json
    (tmp_path / "roi.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                      "features": [square(0, "Stroma"), square(1024, "Tumor")]}))
    return tmp_path / "roi.geojson"


def test_labels_from_annotation_classes(sample_slides, tmp_path):
    roi = halves(tmp_path)
    m = tmp_path / "m.csv"
    m.write_text(f"patient_id,record:wsi,roi:wsi,label:class\n0,{sample_slides}/slide_000.tiff,{roi},3\n")
    ds = StreamDataset(m, batch_size=32, roi_classes=["Tumor", "Stroma"], count=256, max_per_bigchunk=16, **OPTS)
    assert ds.label_names == ["Tumor", "Stroma"]
    seen = set()
    for images, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        want = [0 if x + 32 >= 1024 else 1 for x in infos["x"]]  # a patch lies wholly in one half
        assert labels.tolist() == want
        assert infos["roi"] == [ds.label_names[k] for k in want]
        seen.update(want)
    assert seen == {0, 1}
    with pytest.raises(pt.Error, match="annotation class 'Stroma' is not in the label classes"):
        list(StreamDataset(m, batch_size=32, roi_classes=["Tumor"], count=256, max_per_bigchunk=16, **OPTS))


def test_string_labels_are_numbered_in_sorted_order(sample_slides, tmp_path):
    m = tmp_path / "m.csv"
    m.write_text(f"patient_id,record:wsi,label:kind\n0,{sample_slides}/slide_000.tiff,normal\n"
                 f"1,{sample_slides}/slide_001.tiff,lesion\n")
    ds = StreamDataset(m, batch_size=16, count=64, **OPTS)  # the dataset's only label, unnamed
    assert ds.label_names == ["lesion", "normal"]
    for _, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        assert [ds.label_names[k] for k in labels.tolist()] == infos["label"]
        assert infos["label"] == [{0: "normal", 1: "lesion"}[p] for p in infos["patient"]]


def test_infos_pass_through_the_dataloader_as_a_lazy_view(sample_slides):
    ds = StreamDataset(sample_slides, batch_size=8, count=8, crc32=True, **OPTS)
    (images, labels, infos), = list(torch.utils.data.DataLoader(ds, batch_size=None))
    assert isinstance(infos, pt.Infos) and len(infos) == 8
    rows = infos.to_list()
    assert [dict(i) for i in infos] == rows and infos[-1] == rows[7]
    assert infos["x"] == [r["x"] for r in rows] and set(infos.keys()) == set(rows[0])
    assert labels.tolist() == [-1] * 8  # the sample slides have no label
    import zlib
    assert [zlib.crc32(images[k].numpy().tobytes()) for k in range(8)] == infos["crc32"]
    with pytest.raises(KeyError):
        infos["nope"]
    with pytest.raises(IndexError):
        infos[8]


def test_single_patches_and_batches_mix_without_loss(sample_slides):
    want = [(i["patient"], i["x"], i["y"]) for _, i in pt.stream(str(sample_slides), count=40, batch=16, **OPTS)]
    got = []
    with pt.stream(os.fsencode(str(sample_slides)), count=40, batch=16, **OPTS) as it:  # a bytes path too
        for k in range(3):  # three single ones take from the loader's first batch of 16
            got.append(next(it)[1])
        images, infos = it.next_batch(20)  # its 13 left, then 7 of the next
        got += list(infos)
        got += [info for _, info in it]
    assert [(i["patient"], i["x"], i["y"]) for i in got] == want


def test_batches_are_gathered_into_the_buffer_given(sample_slides):
    with pt.stream(str(sample_slides), count=20, **OPTS) as it:
        assert it.patch_shape == (64, 64, 3)
        out = np.zeros((16, 64, 64, 3), np.uint8)
        images, infos = it.next_batch(16, out=out)
        assert np.shares_memory(images, out) and len(infos) == 16 and out.any()
        images, infos = it.next_batch(16, out=out)
        assert images.shape[0] == len(infos) == 4 and np.shares_memory(images, out)
        frozen = np.zeros((16, 64, 64, 3), np.uint8)
        frozen.flags.writeable = False
        for bad in (np.zeros((16, 64, 64, 3), np.float32), np.zeros((8, 64, 64, 3), np.uint8),
                    np.zeros((16, 64, 64, 3), np.uint8)[:, ::-1], np.zeros((16, 32, 64, 3), np.uint8), frozen, [0] * 16):
            with pytest.raises(pt.OptionsError, match="option out: must be a writable C-contiguous uint8 array"):
                it.next_batch(16, out=bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_pin_memory_without_cuda_warns_and_does_not_pin(sample_slides):
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ds = StreamDataset(sample_slides, batch_size=8, count=8, pin_memory=True, **OPTS)
    (images, _, _), = list(torch.utils.data.DataLoader(ds, batch_size=None))
    assert not images.is_pinned()


def test_labels_are_numbered_over_the_whole_dataset_on_every_rank(sample_slides, tmp_path):
    m = tmp_path / "m.csv"
    rows = [(0, "normal"), (1, "lesion"), (2, "normal"), (3, "normal")]  # rank 1 of 2 holds no lesion
    m.write_text("patient_id,record:wsi,label:kind\n" +
                 "".join(f"{i},{sample_slides}/slide_00{i % 2}.tiff,{k}\n" for i, k in rows))
    for rank in (0, 1):
        ds = StreamDataset(m, batch_size=8, count=16, rank=rank, world_size=2, **OPTS)
        assert ds.label_names == ["lesion", "normal"]
        for _, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
            assert [ds.label_names[k] for k in labels.tolist()] == infos["label"]


def test_integer_labels_are_their_own_codes(sample_slides, tmp_path):
    m = tmp_path / "m.csv"
    m.write_text(f"patient_id,record:wsi,label:grade\n0,{sample_slides}/slide_000.tiff,10\n"
                 f"1,{sample_slides}/slide_001.tiff,2\n")
    ds = StreamDataset(m, batch_size=8, count=32, **OPTS)
    assert ds.label_names == []
    for _, labels, infos in torch.utils.data.DataLoader(ds, batch_size=None):
        assert labels.tolist() == infos["label"] == [{0: 10, 1: 2}[p] for p in infos["patient"]]

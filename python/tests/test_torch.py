"""pydmed_torch.torch.StreamDataset through torch's DataLoader (Debian's torch 1.13 here; any
torch works: the module links none): the same patches as stream(), labels from the manifest,
workers refused, and a model that learns from the batches."""
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
    ds = StreamDataset(m, batch_size=16, label="class", count=100, **OPTS)
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

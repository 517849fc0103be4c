"""PyDmed's data model from Python: manifests read and written, datasets built by hand, splits,
and a Dataset or a settings object handed to stream()."""
import pytest

import pydmed_torch as pt


def manifest(sample_slides, tmp_path):
    m = tmp_path / "m.csv"
    rows = "".join(f"{i},{sample_slides}/slide_00{i % 2}.tiff,{'ab'[i % 2]}\n" for i in range(10))
    m.write_text("patient_id,record:wsi,label:kind\n" + rows)
    return m


def test_a_manifest_round_trips(sample_slides, tmp_path):
    d = pt.read_manifest(manifest(sample_slides, tmp_path))
    assert len(d) == 10 and [p.id for p in d.patients] == list(range(10))
    assert d.patient(3).labels == {"kind": "b"} and d.patient(3).records["wsi"].path.endswith("slide_001.tiff")
    pt.write_manifest(d, tmp_path / "again.csv")
    again = pt.read_manifest(tmp_path / "again.csv")
    assert [(p.id, p.labels, p.slide_path) for p in again.patients] == [(p.id, p.labels, p.slide_path) for p in d.patients]


def test_splits_partition_and_balance(sample_slides, tmp_path):
    d = pt.read_manifest(manifest(sample_slides, tmp_path))
    train, val = d.splits_from([70, 30], seed=1)
    assert len(train) == 7 and len(val) == 3
    assert sorted(p.id for p in train.patients + val.patients) == list(range(10))
    for part in d.labelbalanced_splits_from([60, 40], "kind", seed=2):
        kinds = [p.labels["kind"] for p in part.patients]
        assert kinds.count("a") == kinds.count("b")  # 5 and 5 in the dataset: the same proportion in each part
    by_function = d.labelbalanced_splits_from([60, 40], lambda p: p.labels["kind"], seed=2)
    assert [[p.id for p in s.patients] for s in by_function] == \
        [[p.id for p in s.patients] for s in d.labelbalanced_splits_from([60, 40], "kind", seed=2)]
    shares = [d.shard(r, 3) for r in range(3)]
    assert sorted(p.id for s in shares for p in s.patients) == list(range(10))
    with pytest.raises(pt.DatasetError, match="no label 'grade'"):
        d.labelbalanced_splits_from([50, 50], "grade")


def test_a_dataset_built_by_hand_feeds_stream(sample_slides):
    patients = [pt.Patient(7, {"wsi": pt.Record("slide_001.tiff", rootdir=str(sample_slides))}, labels={"y": 1})]
    d = pt.Dataset("mine", patients)
    assert d.name == "mine" and d.patient(7).slide_path == str(sample_slides / "slide_001.tiff")
    got = list(pt.stream(d, count=5, patch=64, bigchunk=512, collectors=1))
    assert len(got) == 5 and {i["patient"] for _, i in got} == {7} and {i["label"] for _, i in got} == {1}
    with pytest.raises(pt.DatasetError, match="7"):
        pt.Dataset("twice", patients * 2)
    with pytest.raises(pt.OptionsError, match="option labels: must be a dict"):
        pt.Patient(1, {}, labels=5)


def test_settings_objects_are_the_keyword_arguments(sample_slides):
    s = pt.StreamSettings(patch=64, bigchunk=512, collectors=1, seed=3, max_per_bigchunk=8, interval_resched=1e5)
    assert (s.patch, s.bigchunk, s.roi) == (64, 512, "include")
    a = [i["x"] for _, i in pt.stream(str(sample_slides), settings=s, count=20)]
    b = [i["x"] for _, i in pt.stream(str(sample_slides), patch=64, bigchunk=512, collectors=1, seed=3,
                                      max_per_bigchunk=8, interval_resched=1e5, count=20)]
    assert a == b
    s.patch = 1024
    with pytest.raises(pt.OptionsError, match="option patch: 1024 is larger than bigchunk 512"):
        pt.stream(str(sample_slides), settings=s)
    assert pt.stream(str(sample_slides), settings=s, patch=32, count=1).patch_shape == (32, 32, 3)  # keywords win
    with pytest.raises(pt.OptionsError, match="option settings: must be a StreamSettings"):
        pt.stream(str(sample_slides), settings=pt.WindowSettings())
    with pytest.raises(pt.OptionsError, match="option kernel: must be an integer"):
        pt.WindowSettings(kernel="big")

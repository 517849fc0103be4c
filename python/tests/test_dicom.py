"""DICOM whole-slide images (the "dicom" reader and `pydmed dicomize`): series read back equal to
their source slide at every level, frames decoded by another decoder (pydicom and Pillow) equal
to the reader's regions, sparse, shuffled, missing and uncompressed frames, folder sources that
group a series into one patient, and one-line refusals."""
import io
import shutil
import subprocess

import numpy as np
import pytest

import pydmed_torch as pt
from conftest import CLI

pydicom = pytest.importorskip("pydicom")
Image = pytest.importorskip("PIL.Image")
from pydicom.encaps import encapsulate, generate_pixel_data_frame  # noqa: E402


def dicomize(src, out, *flags):
    subprocess.run([CLI, "dicomize", str(src), str(out), "--quiet", *flags], check=True, capture_output=True, text=True)
    return out


def assert_same_slide(a, b):
    assert b.reader == "dicom" and b.level_dimensions == a.level_dimensions
    assert b.mpp == pytest.approx(a.mpp, rel=1e-9)  # DICOM's decimal strings hold 16 characters
    for level, (w, h) in enumerate(a.level_dimensions):  # whole levels: every frame edge and the matrix's end
        np.testing.assert_array_equal(b.read_region((0, 0), level, (w, h)), a.read_region((0, 0), level, (w, h)))
    for x, y in ((101, 37), (-50, -20), (a.dimensions[0] - 300, a.dimensions[1] - 200)):  # across edges and past the end
        np.testing.assert_array_equal(b.read_region((x, y), 0, (700, 500)), a.read_region((x, y), 0, (700, 500)))
    assert sorted(b.associated_images) == sorted(a.associated_images)
    for name, image in a.associated_images.items():
        np.testing.assert_array_equal(b.associated_images[name], image)


def test_rewrapped_series_equal_their_source(wsi, sample_slides, tmp_path):
    for src in (wsi / "CMU-1-Small-Region.svs", wsi / "CMU-1-Small-Region-pyramid.tiff", sample_slides / "slide_000.tiff"):
        out = dicomize(src, tmp_path / src.stem)
        with pt.Slide(src) as a, pt.Slide(out) as b:  # the series' folder
            assert_same_slide(a, b)
            assert b.properties["openslide.vendor"] == "dicom"
            assert b.properties["dicom.TransferSyntaxUID"] == "1.2.840.10008.1.2.4.50"  # JPEG baseline: not re-encoded
            last = f"level-{len(a.level_dimensions) - 1}.dcm"
            assert pt.Slide(out / last).level_dimensions == a.level_dimensions  # any instance opens the whole series


def frames_by_pillow(path):
    """A level assembled from its frames as pydicom finds them and Pillow decodes them."""
    ds = pydicom.dcmread(str(path))
    rows, cols = ds.Rows, ds.Columns
    w, h = ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows
    across = -(-w // cols)
    out = np.zeros((-(-h // rows) * rows, across * cols, 3), np.uint8)
    for i, frame in enumerate(generate_pixel_data_frame(ds.PixelData, int(ds.NumberOfFrames))):
        r, c = divmod(i, across)
        out[r * rows:(r + 1) * rows, c * cols:(c + 1) * cols] = np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"))
    return out[:h, :w]


def test_frames_decoded_by_another_decoder_equal_the_readers_regions(wsi, tmp_path):
    # Aperio's RGB tiles (rewrapped with an Adobe marker) and a generic TIFF's YCbCr tiles.
    for src in (wsi / "CMU-1-Small-Region.svs", wsi / "CMU-1-Small-Region-pyramid.tiff"):
        out = dicomize(src, tmp_path / src.stem)
        with pt.Slide(out) as s:
            for level, (w, h) in enumerate(s.level_dimensions):
                np.testing.assert_array_equal(s.read_region((0, 0), level, (w, h)),
                                              frames_by_pillow(out / f"level-{level}.dcm"))


def rewrite(path, edit):
    ds = pydicom.dcmread(str(path))
    edit(ds)
    ds.save_as(str(path), write_like_original=False)


def test_sparse_shuffled_and_missing_frames(sample_slides, tmp_path):
    src = sample_slides / "slide_000.tiff"
    out = dicomize(src, tmp_path / "sparse", "--tiling", "sparse", "--seed", "7")
    with pt.Slide(src) as a, pt.Slide(out) as b:
        assert b.properties["dicom.DimensionOrganizationType"] == "TILED_SPARSE"
        assert_same_slide(a, b)
    dropped = []

    def drop_two(ds):  # two frames and their positions gone: their tiles read as the background
        frames = list(generate_pixel_data_frame(ds.PixelData, int(ds.NumberOfFrames)))
        per_frame = list(ds.PerFrameFunctionalGroupsSequence)
        for i in (5, 0):
            pos = per_frame[i].PlanePositionSlideSequence[0]
            dropped.append((pos.ColumnPositionInTotalImagePixelMatrix - 1, pos.RowPositionInTotalImagePixelMatrix - 1))
            del frames[i], per_frame[i]
        ds.PixelData = encapsulate(frames)
        ds.PerFrameFunctionalGroupsSequence = per_frame
        ds.NumberOfFrames = len(frames)

    rewrite(out / "level-0.dcm", drop_two)
    with pt.Slide(src) as a, pt.Slide(out) as b:
        w, h = a.dimensions
        want = a.read_region((0, 0), 0, (w, h)).copy()
        for x, y in dropped:
            want[y:y + 256, x:x + 256] = 255
        np.testing.assert_array_equal(b.read_region((0, 0), 0, (w, h)), want)


def test_uncompressed_frames_explicit_and_implicit(sample_slides, tmp_path):
    src = sample_slides / "slide_001.tiff"
    out = dicomize(src, tmp_path / "native", "--native")

    def implicit(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        ds.is_implicit_VR = True

    rewrite(out / "level-1.dcm", implicit)
    with pt.Slide(src) as a, pt.Slide(out) as b:
        assert b.properties["dicom.TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
        assert_same_slide(a, b)


def test_a_folder_source_makes_one_patient_of_a_series(sample_slides, wsi, tmp_path):
    root = tmp_path / "cohort"
    dicomize(wsi / "CMU-1-Small-Region.svs", root / "case_a")  # a series alone in its folder
    flat = root / "flat"  # two series side by side, one written without suffixes
    flat.mkdir()
    for f in dicomize(sample_slides / "slide_000.tiff", tmp_path / "s0").iterdir():
        shutil.copy(f, flat / ("s0_" + f.stem))
    for f in dicomize(sample_slides / "slide_001.tiff", tmp_path / "s1").iterdir():
        shutil.copy(f, flat / ("s1_" + f.name))
    shutil.copy(sample_slides / "slide_000.tiff", root / "plain.tiff")
    d = pt.dataset_from_source(root)
    assert [p.slide_path for p in d.patients] == [str(root / "case_a"), str(flat / "s0_level-0"),
                                                  str(flat / "s1_level-0.dcm"), str(root / "plain.tiff")]
    out = tmp_path / "w.tsv"
    subprocess.run([CLI, "sliding-window", str(root), "--kernel", "512", "--stride", "512", "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    rows = [line.split("\t")[0] for line in out.read_text().splitlines()[1:]]
    windows = [-(-w // 512) * -(-h // 512) for w, h in ((2220, 2967), (2048, 2048), (2048, 2048), (2048, 2048))]
    assert [rows.count(str(i)) for i in range(4)] == windows


def test_what_is_not_read_is_one_line_naming_the_file(sample_slides, wsi, tmp_path):
    out = dicomize(sample_slides / "slide_000.tiff", tmp_path / "series")
    level1 = out / "level-1.dcm"
    data = level1.read_bytes()
    level1.write_bytes(data[: len(data) // 2])  # a level instance cut short
    with pytest.raises(pt.SlideError, match=r"level-1\.dcm.*truncated") as e:
        pt.Slide(out / "level-0.dcm")
    assert "\n" not in str(e.value)
    level1.write_bytes(data)

    rewrite(out / "level-2.dcm", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.4.80"))
    with pytest.raises(pt.SlideError, match=r"level-2\.dcm: transfer syntax JPEGLSLossless .* is not read"):
        pt.Slide(out)

    ct = tmp_path / "ct.dcm"  # a DICOM of another kind
    shutil.copy(out / "level-0.dcm", ct)
    rewrite(ct, lambda ds: setattr(ds, "SOPClassUID", pydicom.uid.CTImageStorage))
    with pytest.raises(pt.SlideError, match=r"ct\.dcm: .*a DICOM CTImageStorage .*not a whole-slide image"):
        pt.Slide(ct)

    r = subprocess.run([CLI, "dicomize", str(wsi / "test3-DAPI-2-387.ndpi"), str(tmp_path / "ndpi")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "test3-DAPI-2-387.ndpi" in r.stderr
    assert "--native" in r.stderr
    r = subprocess.run([CLI, "dicomize", str(sample_slides / "slide_000.tiff"), str(out)], capture_output=True, text=True)
    assert r.returncode == 1 and "not an empty folder" in r.stderr  # nothing overwritten


def to_jpeg2000(path, lossless):
    """Re-encodes a level's uncompressed frames as JPEG 2000 codestreams (Pillow's OpenJPEG)."""
    def edit(ds):
        n, rows, cols = int(ds.NumberOfFrames), ds.Rows, ds.Columns
        pixels = np.frombuffer(ds.PixelData, np.uint8)[: n * rows * cols * 3].reshape(n, rows, cols, 3)
        frames = []
        for f in pixels:
            buf = io.BytesIO()
            Image.fromarray(f).save(buf, "JPEG2000", no_jp2=True, mct=1, irreversible=not lossless,
                                    **({} if lossless else {"quality_mode": "rates", "quality_layers": [20]}))
            frames.append(buf.getvalue())
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.90" if lossless else "1.2.840.10008.1.2.4.91"
        ds.PhotometricInterpretation = "YBR_RCT" if lossless else "YBR_ICT"
        ds.LossyImageCompression = "00" if lossless else "01"
        ds.is_implicit_VR = False
    rewrite(path, edit)


def test_jpeg2000_frames_lossless_and_lossy(sample_slides, tmp_path):
    src = sample_slides / "slide_001.tiff"
    out = dicomize(src, tmp_path / "j2k", "--native")
    for level in range(len(pt.Slide(src).level_dimensions)):
        to_jpeg2000(out / f"level-{level}.dcm", lossless=level != 1)
    with pt.Slide(src) as a, pt.Slide(out) as b:
        for level, (w, h) in enumerate(a.level_dimensions):
            got = b.read_region((0, 0), level, (w, h))
            if level != 1:  # reversible: the pixels themselves
                np.testing.assert_array_equal(got, a.read_region((0, 0), level, (w, h)))
            else:  # irreversible: as Pillow decodes the same frames
                np.testing.assert_array_equal(got, frames_by_pillow(out / "level-1.dcm"))
                assert np.abs(got.astype(int) - a.read_region((0, 0), 1, (w, h))).mean() < 8  # and close to the source


def test_a_stale_offset_table_is_not_trusted(sample_slides, tmp_path):
    src = sample_slides / "slide_000.tiff"
    out = dicomize(src, tmp_path / "series")

    def pad_one_frame(ds):  # two bytes after frame 3's EOI: the table's later offsets are now wrong
        frames = list(generate_pixel_data_frame(ds.PixelData, int(ds.NumberOfFrames)))
        frames[3] += b"\0\0"
        ds.PixelData = encapsulate(frames)
        assert "ExtendedOffsetTable" in ds  # left as it was, as a careless editor leaves it

    rewrite(out / "level-0.dcm", pad_one_frame)
    with pt.Slide(src) as a, pt.Slide(out) as b:
        w, h = a.dimensions
        np.testing.assert_array_equal(b.read_region((0, 0), 0, (w, h)), a.read_region((0, 0), 0, (w, h)))


def test_hostile_sizes_and_neighbours(sample_slides, tmp_path, monkeypatch):
    out = dicomize(sample_slides / "slide_000.tiff", tmp_path / "series")
    last = sorted(out.glob("level-*.dcm"))[-1]
    sr = out / "report.dcm"  # a DICOM without pixel data beside the series (a structured report)
    shutil.copy(last, sr)

    def no_pixels(ds):
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.BasicTextSRStorage
        del ds.PixelData

    rewrite(sr, no_pixels)
    monkeypatch.chdir(out)
    assert pt.Slide("level-0.dcm").level_count == pt.Slide(sample_slides / "slide_000.tiff").level_count  # relative;
    # the report is no instance of it
    huge = tmp_path / "huge" / "x.dcm"  # a few kilobytes claiming 60000 x 60000 frames of one pixel
    huge.parent.mkdir()
    shutil.copy(last, huge)

    def claim(ds):
        ds.Rows = ds.Columns = 1
        ds.TotalPixelMatrixColumns = ds.TotalPixelMatrixRows = 60000

    rewrite(huge, claim)
    with pytest.raises(pt.SlideError, match=r"x\.dcm.*too many tiles"):
        pt.Slide(huge)


def test_instances_named_by_uid_are_found_in_a_folder(sample_slides, tmp_path):
    folder = tmp_path / "uids"
    folder.mkdir()
    for i, f in enumerate(sorted(dicomize(sample_slides / "slide_000.tiff", tmp_path / "series").iterdir())):
        shutil.copy(f, folder / f"1.2.826.0.1.3680043.8.498.{i + 10}")
    (folder / "notes.txt").write_text("not a slide")
    d = pt.dataset_from_source(tmp_path)
    paths = [p.slide_path for p in d.patients]
    assert str(folder) in paths and str(tmp_path / "series") in paths  # each series once, by its folder
    assert len(paths) == 2 + len(list(sample_slides.glob("*.tiff")))

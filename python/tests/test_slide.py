"""pydmed_torch.Slide against openslide-python on real slides: the same shape of API and the
same pixels (OpenSlide's RGBA composited on white: the project's transparent pixels are white)."""
import numpy as np
import pytest

openslide = pytest.importorskip("openslide")

import pydmed_torch as pt

SLIDES = ["CMU-1-Small-Region.svs", "CMU-1-Small-Region-pyramid.tiff", "small.svs", "test3-DAPI-2-387.ndpi"]


def on_white(rgba):
    a = np.asarray(rgba).astype(np.uint16)
    rgb, alpha = a[..., :3], a[..., 3:4]
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


@pytest.mark.parametrize("name", SLIDES)
def test_geometry_and_properties_are_openslides(wsi, name):
    path = wsi / name
    with pt.Slide(str(path)) as s, openslide.OpenSlide(str(path)) as o:
        assert s.level_count == o.level_count
        assert s.dimensions == o.dimensions
        assert s.level_dimensions == o.level_dimensions
        assert s.level_downsamples == pytest.approx(o.level_downsamples)
        for d in (1, 2, 3.5, 4, 16, 100):
            assert s.get_best_level_for_downsample(d) == o.get_best_level_for_downsample(d)
        for key in ("openslide.vendor", "openslide.mpp-x", "openslide.mpp-y"):
            if key in o.properties:
                assert s.properties[key] == o.properties[key]
        if "openslide.mpp-x" in o.properties:
            assert s.mpp == pytest.approx((float(o.properties["openslide.mpp-x"]), float(o.properties["openslide.mpp-y"])))
        assert set(s.associated_images) == set(o.associated_images)


@pytest.mark.parametrize("name", SLIDES)
def test_regions_are_openslides_on_white(wsi, name):
    path = wsi / name
    with pt.Slide(str(path)) as s, openslide.OpenSlide(str(path)) as o:
        w, h = o.dimensions
        for level in range(o.level_count):
            ds = o.level_downsamples[level]
            for x, y in ((0, 0), (w // 3, h // 2), (w - 100, h - 80), (-50, -30)):  # the last two run off the slide
                x, y = int(x // ds * ds), int(y // ds * ds)
                got = s.read_region((x, y), level, (157, 123))
                assert got.shape == (123, 157, 3) and got.dtype == np.uint8
                want = o.read_region((x, y), level, (157, 123))
                inside = np.asarray(want)[..., 3] == 255
                if ds != int(ds):
                    # A level that is not whole pixels of level 0: OpenSlide blends its edge pixels
                    # with the transparent outside at a sub-pixel offset; the rest is exact.
                    got, want, inside = got[inside], on_white(want)[inside], None
                    assert got.size > 0
                else:
                    want = on_white(want)
                np.testing.assert_array_equal(got, want, err_msg=f"{name} level {level} at {x},{y}")


def test_errors_are_python_exceptions_with_the_one_line(tmp_path, wsi):
    with pytest.raises(pt.SlideError, match="no such file") as e:
        pt.Slide(str(tmp_path / "missing.svs"))
    assert isinstance(e.value, OSError)
    (tmp_path / "bad.svs").write_bytes(b"not a slide at all" * 10)
    with pytest.raises(OSError, match="bad.svs"):
        pt.Slide(str(tmp_path / "bad.svs"))
    s = pt.Slide(str(wsi / "CMU-1-Small-Region.svs"))
    with pytest.raises(OSError, match="level"):
        s.read_region((0, 0), 7, (10, 10))
    s.close()
    with pytest.raises(pt.Error, match="closed"):
        s.read_region((0, 0), 0, (10, 10))


def test_thumbnail_fits_the_size_and_mpp_reads_resize(wsi):
    with pt.Slide(str(wsi / "CMU-1-Small-Region.svs")) as s:
        t = s.get_thumbnail((200, 100))
        assert t.shape[0] <= 100 and t.shape[1] <= 200 and max(t.shape[:2]) >= 99
        a = s.read_region_at_mpp((500, 600), 1.0, (64, 64))  # 0.499 um/px: about 128 pixels each way, halved
        assert a.shape == (64, 64, 3)
        assert abs(a.astype(float).mean() - s.read_region((500, 600), 0, (128, 128)).astype(float).mean()) < 2

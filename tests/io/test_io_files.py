import av
import cv2
import numpy as np
import pytest

from hold.io.errors import InputError
from hold.io.images import png_size, read_image, read_mask, write_image, write_mask
from hold.io.mesh import load_mesh, save_mesh
from hold.io.video import iter_video, read_video, write_video

MUSTARD = "hold/data/ycb/006_mustard_bottle/mesh.obj"


def test_images_are_rgb_in_memory(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    write_image(tmp_path / "red.png", rgb)
    raw = cv2.imread(str(tmp_path / "red.png"))  # OpenCV's own order is BGR
    assert (raw[..., 2] == 255).all() and (raw[..., :2] == 0).all()
    assert np.array_equal(read_image(tmp_path / "red.png"), rgb)
    assert png_size(tmp_path / "red.png") == (5, 4)


def test_grey_image_becomes_three_channels(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 3), 77, np.uint8))
    assert np.array_equal(read_image(tmp_path / "g.png"), np.full((3, 3, 3), 77, np.uint8))


def test_sixteen_bit_image_is_rejected(tmp_path):
    cv2.imwrite(str(tmp_path / "deep.png"), np.zeros((3, 3, 3), np.uint16))
    with pytest.raises(InputError, match="8-bit"):
        read_image(tmp_path / "deep.png")


def test_masks(tmp_path):
    labels = np.array([[0, 50], [150, 250]], np.uint8)
    write_mask(tmp_path / "m.png", labels)
    assert np.array_equal(read_mask(tmp_path / "m.png"), labels)
    cv2.imwrite(str(tmp_path / "grey3.png"), np.repeat(labels[..., None], 3, axis=2))
    assert np.array_equal(read_mask(tmp_path / "grey3.png"), labels)
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[0, 0] = (1, 2, 3)
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(InputError, match="single-channel"):
        read_mask(tmp_path / "colour.png")


def test_not_a_png(tmp_path):
    (tmp_path / "x.png").write_bytes(b"JFIF not really")
    with pytest.raises(InputError, match="not a PNG"):
        png_size(tmp_path / "x.png")
    with pytest.raises(InputError, match="cannot decode"):
        read_image(tmp_path / "x.png")


def _obj_vertex_lines(path):
    return np.array([[float(x) for x in line.split()[1:4]] for line in open(path) if line.startswith("v ")])


def test_mesh_keeps_file_vertices_in_order(tmp_path):
    mesh = load_mesh(MUSTARD)
    # Independent parse of the 'v' lines: no merging, splitting or re-centring happened.
    assert np.array_equal(mesh.vertices, _obj_vertex_lines(MUSTARD))
    assert mesh.faces.shape == (2000, 3)
    save_mesh(tmp_path / "copy.obj", mesh.vertices, mesh.faces)
    again = load_mesh(tmp_path / "copy.obj")
    assert np.array_equal(again.vertices, mesh.vertices) and np.array_equal(again.faces, mesh.faces)


def test_mesh_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 300, (500, 3))
    for dtype in (np.float32, np.float64):
        vertices = (rng.normal(size=(300, 3)) * 0.1).astype(dtype)
        save_mesh(tmp_path / "m.obj", vertices, faces)
        loaded = load_mesh(tmp_path / "m.obj")
        assert np.array_equal(loaded.vertices.astype(dtype), vertices)
        assert np.array_equal(loaded.faces, faces)


@pytest.mark.parametrize(
    "content, fragment",
    [("this is not an obj", "no triangles"), ("v 0 0 0\nv 1 0 0\n", "no triangles"),
     ("v 0 0 0\nv 1 0 0\nv 0 nan 0\nf 1 2 3\n", "NaN")],
)
def test_bad_mesh_files(tmp_path, content, fragment):
    (tmp_path / "bad.obj").write_text(content)
    with pytest.raises(InputError, match=fragment):
        load_mesh(tmp_path / "bad.obj")


def test_missing_mesh(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_mesh(tmp_path / "none.obj")


def test_video_is_h264_and_reads_back(tmp_path):
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (64, 48), interpolation=cv2.INTER_LINEAR)
    frames = [np.roll(base, 4 * t, axis=1) for t in range(12)]
    assert write_video(tmp_path / "v.mp4", frames, fps=25) == 12
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(25)
    decoded = read_video(tmp_path / "v.mp4")
    assert decoded.shape == (12, 48, 64, 3)
    # Lossy (yuv420p halves chroma) but each decoded frame is far closer to its own source
    # frame than to the frames in reverse order.
    error = np.abs(decoded.astype(int) - np.stack(frames)).mean()
    error_reversed = np.abs(decoded.astype(int) - np.stack(frames[::-1])).mean()
    assert error < 5 and error < 0.3 * error_reversed
    # OpenCV reads PyAV's file too (the other reader the project may use).
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_odd_sized_video_is_padded(tmp_path):
    frames = [np.full((15, 21, 3), 128, np.uint8)] * 3
    write_video(tmp_path / "odd.mp4", frames)
    first = next(iter_video(tmp_path / "odd.mp4"))
    assert first.shape == (16, 22, 3)


def test_video_errors(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError):
        read_video(tmp_path / "broken.mp4")
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [])
    assert not (tmp_path / "empty.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]

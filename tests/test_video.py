"""The streaming video reader on the bundled real video and on small synthetic videos.

Synthetic videos are written by cv2.VideoWriter (MPEG-4 part 2 in MP4, 25 fps, so frame
times are multiples of 40 ms); each synthetic frame's gray level encodes its index, so the
frames a reader yields can be told apart by their pixels. Bad files are made in tmp_path;
truncated ones are the real video cut off (``conftest.cut_real_video``).
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CUT_DECODED_FRAMES, REAL_FRAMES, REAL_VIDEO, cut_real_video

from formset.quarantine import SampleError
from formset.tasks.readers import video as video_module
from formset.tasks.readers.video import fit_within, iter_frames, min_decoded_fraction, prefetch, probe, probe_to_end

#: The bundled video: portrait 608 x 1080 stored upright, 30000/1001 fps, 614 frames.
REAL_SIZE, REAL_FPS = (608, 1080), 30000 / 1001

SYNTHETIC_FPS = 25
SYNTHETIC_SIZE = (160, 96)  # (width, height): landscape
GRAY_STEP = 20  # gray level per frame index in synthetic videos
MARKER = (slice(0, 24), slice(0, 40))  # rows, columns of a white block in the top-left corner


def synthetic_frames(n_frames: int) -> np.ndarray:
    """Synthetic BGR frames ``(frame, height, width, 3)``: gray level ``GRAY_STEP * index``
    with a white block (``MARKER``) in the stored image's top-left corner."""
    width, height = SYNTHETIC_SIZE
    frames = np.repeat((np.arange(n_frames, dtype=np.uint8) * GRAY_STEP)[:, None, None, None], 3, axis=3)
    frames = np.broadcast_to(frames, (n_frames, height, width, 3)).copy()
    frames[(slice(None), *MARKER)] = 255
    return frames


def write_video(path: Path, frames: np.ndarray, fps: float = SYNTHETIC_FPS, fourcc: str = "mp4v") -> Path:
    """Write BGR frames ``(frame, height, width, 3)`` with cv2.VideoWriter."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    for image in frames:
        writer.write(image)
    writer.release()
    return path


#: Display matrix (a, b, c, d) of an MP4 track header for a clockwise display rotation, as
#: phones write it (90 for a portrait recording).
DISPLAY_MATRIX = {90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}
FIXED_16_16, FIXED_2_30 = 1 << 16, 1 << 30


def set_display_rotation(path: Path, degrees: int) -> None:
    """Rewrite the first track header's (tkhd) display matrix to rotate by ``degrees``."""
    data = bytearray(path.read_bytes())
    tkhd = data.index(b"tkhd")
    version = data[tkhd + 4]
    # After the box type: version/flags, two dates (4 or 8 bytes), track id, reserved,
    # duration (4 or 8), reserved 8, layer, group, volume, reserved: then the matrix.
    matrix_at = tkhd + 4 + (40 if version == 0 else 52)
    a, b, c, d = DISPLAY_MATRIX[degrees]
    matrix = (a * FIXED_16_16, b * FIXED_16_16, 0, c * FIXED_16_16, d * FIXED_16_16, 0, 0, 0, FIXED_2_30)
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))


def test_probe_describes_the_real_video():
    info = probe(REAL_VIDEO)
    assert (info.width, info.height) == REAL_SIZE
    assert info.frame_count == REAL_FRAMES
    assert info.fps == pytest.approx(REAL_FPS)
    assert info.duration_s == pytest.approx(REAL_FRAMES / REAL_FPS)
    assert info.rotation == 0
    assert info.codec == "h264"


def test_real_video_decodes_every_frame_upright_with_container_times():
    indices, times = [], []
    for frame in iter_frames(REAL_VIDEO):
        assert frame.image.shape == (REAL_SIZE[1], REAL_SIZE[0], 3)
        assert frame.image.dtype == np.uint8
        indices.append(frame.index)
        times.append(frame.time_s)
    assert indices == list(range(REAL_FRAMES))
    np.testing.assert_allclose(times, np.arange(REAL_FRAMES) / REAL_FPS, atol=1e-3)
    assert np.all(np.diff(times) > 0)


def test_stride_yields_every_nth_frame_with_its_own_time_and_pixels(tmp_path):
    video = write_video(tmp_path / "synthetic.mp4", synthetic_frames(10))
    frames = list(iter_frames(video, stride=3))
    assert [f.index for f in frames] == [0, 3, 6, 9]
    np.testing.assert_allclose([f.time_s for f in frames], [0.0, 0.12, 0.24, 0.36], atol=1e-6)
    # The pixels are those of the frames named (lossy codec: a few gray levels off).
    gray = [float(np.median(f.image[48:, 80:])) for f in frames]
    np.testing.assert_allclose(gray, [0, 3 * GRAY_STEP, 6 * GRAY_STEP, 9 * GRAY_STEP], atol=4)


def test_max_side_downscales_the_longer_side_and_never_enlarges(tmp_path):
    video = write_video(tmp_path / "synthetic.mp4", synthetic_frames(3))
    assert {f.image.shape for f in iter_frames(video, max_side=80)} == {(48, 80, 3)}
    assert {f.image.shape for f in iter_frames(video, max_side=1000)} == {(96, 160, 3)}


def test_fit_within_keeps_the_aspect_ratio():
    assert fit_within(608, 1080, 960) == (540, 960)
    assert fit_within(1920, 1080, 960) == (960, 540)
    assert fit_within(1920, 1080, None) == (1920, 1080)
    assert fit_within(640, 360, 960) == (640, 360)


@pytest.mark.parametrize("degrees, turns_clockwise", [(90, 1), (180, 2), (270, 3)])
def test_rotation_metadata_gives_upright_frames_and_size(tmp_path, degrees, turns_clockwise):
    stored = synthetic_frames(3)
    video = write_video(tmp_path / f"rotated_{degrees}.mp4", stored)
    set_display_rotation(video, degrees)

    info = probe(video)
    upright = np.rot90(stored, k=-turns_clockwise, axes=(1, 2))  # negative k: clockwise
    assert info.rotation == degrees
    assert (info.height, info.width) == upright.shape[1:3]
    frames = list(iter_frames(video))
    assert [f.image.shape for f in frames] == [upright.shape[1:]] * 3
    for frame, expected in zip(frames, upright):
        assert np.abs(frame.image.astype(int) - expected).mean() < 3


def test_rotated_frames_are_downscaled_after_rotation(tmp_path):
    video = write_video(tmp_path / "portrait.mp4", synthetic_frames(2))
    set_display_rotation(video, 90)
    assert {f.image.shape for f in iter_frames(video, max_side=80)} == {(80, 48, 3)}


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    return path


def _truncated(tmp_path: Path) -> Path:
    # The bundled MP4 keeps its index (moov box) at the end: a cut copy lacks it.
    return cut_real_video(tmp_path / "truncated.mp4", index_at="last")


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("squat, subject 3, second take\n" * 20)
    return path


def _unknown_codec(tmp_path: Path) -> Path:
    # Rename the H.264 sample entry ('avc1' inside the stsd box) to a codec nobody knows.
    data = bytearray(REAL_VIDEO.read_bytes())
    entry = data.index(b"avc1", data.index(b"stsd"))
    data[entry : entry + 4] = b"zzzz"
    path = tmp_path / "unknown_codec.mp4"
    path.write_bytes(bytes(data))
    return path


def _damaged_stream(tmp_path: Path) -> Path:
    # A valid container whose compressed frames are all zero bytes: nothing decodes.
    path = write_video(tmp_path / "damaged.mp4", synthetic_frames(10))
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat")
    (size,) = struct.unpack(">I", data[mdat - 4 : mdat])
    data[mdat + 4 : mdat - 4 + size] = bytes(size - 8)
    path.write_bytes(bytes(data))
    return path


def _no_frames(tmp_path: Path) -> Path:
    return write_video(tmp_path / "no_frames.avi", synthetic_frames(0), fourcc="MJPG")


@pytest.mark.parametrize(
    "make, reason, says",
    [
        (_empty, "empty_video", "0 bytes"),
        (_truncated, "video_truncated", "ends after 354,238 bytes, inside its 'mdat' box, which runs to byte 2,458,451"),
        (_text, "unreadable_video", "does not start like a video"),
        (_unknown_codec, "unreadable_video", "codec"),
        (_damaged_stream, "unreadable_video", "not one frame could be decoded"),
        (_no_frames, "empty_video", "no frames"),
        (lambda tmp_path: tmp_path / "absent.mp4", "missing_file", "does not exist"),
    ],
    ids=["empty", "truncated", "not_a_video", "unknown_codec", "damaged_stream", "no_frames", "missing"],
)
def test_bad_videos_give_a_clear_reason_from_probe_and_reader(tmp_path, make, reason, says):
    video = make(tmp_path)
    for read in (probe, probe_to_end, lambda path: next(iter_frames(path))):
        with pytest.raises(SampleError) as raised:
            read(video)
        assert raised.value.reason == reason
        assert says in raised.value.detail
        assert video.name in raised.value.detail


def test_a_cut_video_with_its_index_first_opens_whole_and_decodes_short(tmp_path):
    video = cut_real_video(tmp_path / "cut.mp4", index_at="first")
    info = probe(video)  # the index survives the cut: it still declares the whole video
    assert (info.frame_count, round(info.duration_s, 1)) == (REAL_FRAMES, 20.5)
    yielded = []
    with pytest.raises(SampleError) as raised:  # raised after the last frame: decoding stopped
        for frame in iter_frames(video, stride=16):
            yielded.append(frame.index)
    assert yielded == list(range(0, CUT_DECODED_FRAMES, 16))
    assert raised.value.reason == "video_truncated"
    assert raised.value.detail.startswith(f"cut.mp4: decoded {CUT_DECODED_FRAMES} of {REAL_FRAMES} frames (to 2.1 s of 20.5 s")
    assert "Deliver the whole file again" in raised.value.detail
    with pytest.raises(SampleError) as probed:
        probe_to_end(video)
    assert (probed.value.reason, probed.value.detail) == ("video_truncated", raised.value.detail)


@pytest.mark.parametrize("index_at", ["first", "last"])
def test_a_whole_video_is_not_truncated_and_probe_to_end_does_not_decode_it_all(tmp_path, index_at, monkeypatch):
    video = cut_real_video(tmp_path / "whole.mp4", index_at=index_at, share=1)
    assert sum(1 for _ in iter_frames(video, stride=REAL_FRAMES)) == 1  # decoded through, not called short
    monkeypatch.setattr(video_module, "iter_frames", None)  # the seek to its end is enough
    assert probe_to_end(video).frame_count == REAL_FRAMES


def test_a_short_seek_is_settled_by_decoding_through(tmp_path, monkeypatch):
    # Asked for the last frame of the cut video, OpenCV lands on an earlier one and grab()
    # succeeds: probe_to_end must not take that for the end, nor for the decodable length.
    video = cut_real_video(tmp_path / "cut.mp4", index_at="first")
    decoded_through = []
    monkeypatch.setattr(video_module, "iter_frames", lambda *args, **kwargs: decoded_through.append(args) or iter_frames(*args, **kwargs))
    with pytest.raises(SampleError, match=f"decoded {CUT_DECODED_FRAMES} of {REAL_FRAMES} frames"):
        probe_to_end(video)
    assert len(decoded_through) == 1


def _cut_clip(tmp_path: Path, share: float) -> Path:
    """A 50-frame synthetic clip in Matroska (index first, like a fast-start MP4), cut to
    the first ``share`` of its bytes."""
    whole = write_video(tmp_path / "whole.mkv", synthetic_frames(50), fourcc="MJPG")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: round(whole.stat().st_size * share)])
    return cut


def test_min_decoded_fraction_is_the_share_of_the_declared_duration_that_must_decode(tmp_path):
    clip = _cut_clip(tmp_path, 0.85)
    with pytest.raises(SampleError) as raised:
        list(iter_frames(clip))
    decoded = len(list(iter_frames(clip, min_decoded_fraction=0)))  # 0: no check
    assert raised.value.reason == "video_truncated" and 30 < decoded < 45
    assert f"decoded {decoded} of 50 frames" in raised.value.detail
    # Decoding covers the decoded frames' display time: decoded / 50 of the duration.
    assert len(list(iter_frames(clip, min_decoded_fraction=decoded / 50))) == decoded
    with pytest.raises(SampleError, match=f"decoded {decoded} of 50 frames"):
        list(iter_frames(clip, min_decoded_fraction=(decoded + 1) / 50))
    for check in (probe_to_end, lambda path, fraction: list(iter_frames(path, min_decoded_fraction=fraction))):
        check(clip, decoded / 50)
        with pytest.raises(SampleError, match=f"decoded {decoded} of 50 frames"):
            check(clip, (decoded + 1) / 50)


@pytest.mark.parametrize(
    "declared",
    [
        {"fps": SYNTHETIC_FPS / 2},  # a rate reported too low: the nominal duration is twice the real one
        {"frame_count": 100, "fps": SYNTHETIC_FPS * 2},  # a count estimated from a rate too high
    ],
    ids=["duration_too_long", "count_too_high"],
)
def test_a_whole_video_is_not_called_short_when_only_its_duration_or_only_its_count_is_off(tmp_path, monkeypatch, declared):
    video = write_video(tmp_path / "whole.mp4", synthetic_frames(50))
    opened = video_module._open

    def misdeclaring(path):
        capture, info = opened(path)
        info = dataclasses.replace(info, **declared)
        return capture, dataclasses.replace(info, duration_s=info.frame_count / info.fps)

    monkeypatch.setattr(video_module, "_open", misdeclaring)
    assert len(list(iter_frames(video))) == 50
    assert probe_to_end(video).frame_count == declared.get("frame_count", 50)


def test_min_decoded_fraction_param_defaults_and_is_checked():
    assert min_decoded_fraction({}) == 0.9
    assert min_decoded_fraction({"min_decoded_fraction": 0.5}) == 0.5
    with pytest.raises(ValueError, match="keypoints.min_decoded_fraction"):
        min_decoded_fraction({"min_decoded_fraction": 1.5})
    with pytest.raises(ValueError, match="min_decoded_fraction"):
        next(iter_frames(REAL_VIDEO, min_decoded_fraction=-0.1))


def test_unreadable_video_says_what_was_tried(tmp_path):
    with pytest.raises(SampleError) as raised:
        probe(_text(tmp_path))
    assert f"OpenCV {cv2.__version__} (FFmpeg backend)" in raised.value.detail


def test_bad_stride_or_size_is_a_configuration_error():
    with pytest.raises(ValueError, match="stride"):
        next(iter_frames(REAL_VIDEO, stride=0))
    with pytest.raises(ValueError, match="max_side"):
        next(iter_frames(REAL_VIDEO, max_side=0))


def test_prefetch_yields_the_same_frames_in_order():
    direct = [(f.index, f.time_s) for f in iter_frames(REAL_VIDEO, stride=20, max_side=160)]
    ahead = [(f.index, f.time_s) for f in prefetch(iter_frames(REAL_VIDEO, stride=20, max_side=160), depth=2)]
    assert ahead == direct and len(direct) > 10


def test_prefetch_raises_the_readers_error_in_the_caller(tmp_path):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("hello, I am text")
    with pytest.raises(SampleError) as raised:
        list(prefetch(iter_frames(bad)))
    assert raised.value.reason == "unreadable_video"


def test_prefetch_stops_its_thread_when_the_caller_stops_early():
    import threading

    frames = prefetch(iter_frames(REAL_VIDEO, max_side=160), depth=2)
    assert next(frames).index == 0
    frames.close()
    assert not any(t.name == "frame-prefetch" for t in threading.enumerate())

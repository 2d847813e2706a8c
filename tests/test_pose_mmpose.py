"""mmpose backend: tracking rules on synthetic poses, the import shim, and a random-weights
RTMPose-t checkpoint loaded through the same constructor users call."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import CUT_DECODED_FRAMES, REAL_FRAMES, cut_real_video

from formset.quarantine import SampleError
from formset.schemas.skeleton import JOINT_INDEX
from formset.schemas.tables import KEYPOINTS
from formset.tasks.keypoints import series_to_frame
from formset.tasks.pose.mmpose_backend import (
    BOX_MARGIN,
    COCO17,
    MIN_BOX_PAD_PX,
    MIN_FOUND_JOINTS,
    STAND_INS,
    HogPeopleDetector,
    MmposeBackend,
    choose_performer,
    coco17_to_canonical,
    import_mmpose_apis,
    keypoint_box,
    performer_found,
    read_config,
    stand_ins_for_missing,
    track_performer,
)

N_JOINTS = len(COCO17)
SQUAT_VIDEO = Path(__file__).resolve().parent.parent / "samples" / "real-squat" / "squat_side.mp4"
#: Synthetic image size for the tracking tests, (width, height) in pixels.
IMAGE_SIZE = (400, 200)


def joints_spanning(box: np.ndarray, score: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic pose: 17 joints on the box's diagonal, first and last on its corners."""
    t = np.linspace(0.0, 1.0, N_JOINTS)[:, np.newaxis]
    keypoints = box[:2] + t * (box[2:] - box[:2])
    return keypoints.astype(np.float32), np.full(N_JOINTS, score, dtype=np.float32)


# --- rules on synthetic poses and boxes ---------------------------------------------------


def test_keypoint_box_covers_confident_joints_widened_by_margin():
    keypoints, scores = joints_spanning(np.array([150.0, 40.0, 250.0, 160.0]))
    scores[0] = 0.1  # the (150, 40) corner joint is not confident: the box starts at joint 1
    box = keypoint_box(keypoints, scores, IMAGE_SIZE)
    low = keypoints[1]
    width, height = 250 - low[0], 160 - low[1]
    pad = BOX_MARGIN * np.array([width, height])
    np.testing.assert_allclose(box, [*(low - pad), *(np.array([250, 160]) + pad)], rtol=1e-5)


def test_keypoint_box_pads_tiny_boxes_and_clips_to_the_image():
    keypoints, scores = joints_spanning(np.array([2.0, 100.0, 12.0, 102.0]))
    box = keypoint_box(keypoints, scores, IMAGE_SIZE)
    np.testing.assert_allclose(box, [0.0, 100 - MIN_BOX_PAD_PX, 12 + MIN_BOX_PAD_PX, 102 + MIN_BOX_PAD_PX])


def test_performer_found_needs_enough_confident_joints():
    scores = np.full(N_JOINTS, 0.05, dtype=np.float32)
    scores[:MIN_FOUND_JOINTS] = 0.9
    assert performer_found(scores)
    scores[0] = 0.05
    assert not performer_found(scores)


def test_choose_performer_starts_with_the_large_central_person():
    central = [150.0, 40.0, 250.0, 160.0]  # centred, diagonal 156 px
    larger_off_centre = [0.0, 0.0, 100.0, 200.0]  # diagonal 224 px but 150 px off centre
    chosen = choose_performer(np.array([larger_off_centre, central]), None, IMAGE_SIZE)
    np.testing.assert_array_equal(chosen, central)


def test_choose_performer_then_follows_the_last_box_and_refuses_far_people():
    last = np.array([150.0, 40.0, 250.0, 160.0])
    moved_a_little = [160.0, 45.0, 260.0, 165.0]
    bigger_bystander = [300.0, 0.0, 400.0, 200.0]
    chosen = choose_performer(np.array([bigger_bystander, moved_a_little]), last, IMAGE_SIZE)
    np.testing.assert_array_equal(chosen, moved_a_little)
    far_away = [0.0, 0.0, 60.0, 200.0] + np.array([-200.0, 0.0, -200.0, 0.0])  # two diagonals away
    assert choose_performer(np.array([far_away]), last, IMAGE_SIZE) is None
    assert choose_performer(np.empty((0, 4)), last, IMAGE_SIZE) is None


def test_track_performer_detects_only_when_needed_and_follows_the_pose():
    performer = np.array([150.0, 40.0, 250.0, 160.0])
    bystander = np.array([0.0, 0.0, 100.0, 200.0])
    lost_frame = 2
    image = np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    frames = [(10 + i, i / 25, image) for i in range(5)]  # synthetic: frame indices 10-14 at 25 fps
    boxes_used, detected_at = [], []

    def detect(img):
        detected_at.append(len(boxes_used))
        return np.array([bystander, performer + 5])  # the performer drifts 5 px right and down

    def estimate(img, box):
        boxes_used.append(box.copy())
        return joints_spanning(box, score=0.1 if len(boxes_used) - 1 == lost_frame else 0.9)

    track = track_performer(frames, estimate, detect)

    assert detected_at == [0, lost_frame + 1]  # first frame, and the frame after losing the performer
    np.testing.assert_array_equal(boxes_used[0], performer + 5)
    width, height = 100, 120
    widened = performer + 5 + BOX_MARGIN * np.array([-width, -height, width, height])
    np.testing.assert_allclose(boxes_used[1], widened, rtol=1e-5)  # box from frame 0's joints
    np.testing.assert_array_equal(boxes_used[lost_frame + 1], performer + 5)  # re-detected, not the bystander
    np.testing.assert_array_equal(track.found, [True, True, False, True, True])
    np.testing.assert_array_equal(track.frame, np.arange(10, 15))
    np.testing.assert_allclose(track.time_s, np.arange(5) / 25)
    assert track.keypoints.shape == (5, N_JOINTS, 2) and track.image_size == IMAGE_SIZE


def test_track_performer_uses_the_whole_frame_when_nobody_is_detected():
    image = np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8)
    boxes_used = []

    def estimate(img, box):
        boxes_used.append(box)
        return joints_spanning(box, score=0.1)

    track = track_performer([(0, 0.0, image)], estimate, lambda img: np.empty((0, 4)))
    np.testing.assert_array_equal(boxes_used[0], [0, 0, *IMAGE_SIZE])
    assert not track.found.any()


def test_coco17_to_canonical_clips_scores_and_blanks_lost_frames_and_joints():
    keypoints = np.tile(np.arange(N_JOINTS, dtype=np.float32)[:, np.newaxis] * [10, 1], (2, 1, 1))
    scores = np.full((2, N_JOINTS), 0.5, dtype=np.float32)
    scores[0, COCO17.index("left_shoulder")] = 1.4  # SimCC scores can exceed 1
    scores[0, COCO17.index("nose")] = -1.0  # no maximum found
    points, confidence = coco17_to_canonical(keypoints, scores, found=np.array([True, False]))

    shoulder = JOINT_INDEX["left_shoulder"]
    np.testing.assert_array_equal(points[0, shoulder, :2], [50, 5])  # COCO index 5
    assert np.isnan(points[0, shoulder, 2])  # 2-D: no z
    assert confidence[0, shoulder] == 1.0 and confidence[0, JOINT_INDEX["right_hip"]] == 0.5
    assert np.isnan(points[0, JOINT_INDEX["nose"]]).all() and np.isnan(confidence[0, JOINT_INDEX["nose"]])
    np.testing.assert_allclose(points[0, JOINT_INDEX["neck"], :2], [55, 5.5])  # mid-shoulders, derived
    assert np.isnan(points[1]).all() and np.isnan(confidence[1]).all()


# --- the import shim ----------------------------------------------------------------------


def test_stand_ins_are_registered_only_for_failing_imports_and_removed_after(tmp_path, monkeypatch):
    package = tmp_path / "synthetic_pkg_with_ops"  # importable package whose compiled-ops module is missing
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ops.py").write_text("from . import _synthetic_missing_ext\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    wanted = {
        "synthetic_pkg_with_ops.ops": ("Deform",),
        "synthetic_absent_pkg.utils": ("reduce",),
        "json": ("dumps",),
    }
    import json

    with stand_ins_for_missing(wanted) as registered:
        assert set(registered) == {"synthetic_pkg_with_ops.ops", "synthetic_absent_pkg.utils"}
        from synthetic_absent_pkg.utils import reduce
        from synthetic_pkg_with_ops.ops import Deform

        assert not isinstance(object(), Deform)
        with pytest.raises(ImportError, match="install the real synthetic_absent_pkg"):
            reduce(1.0)
        assert sys.modules["json"] is json and json.dumps([1]) == "[1]"
    assert "synthetic_absent_pkg.utils" not in sys.modules and "synthetic_pkg_with_ops.ops" not in sys.modules
    with pytest.raises(ImportError):
        importlib.import_module("synthetic_absent_pkg.utils")


# --- the backend on a random-weights RTMPose-t --------------------------------------------


def test_unset_or_missing_files_are_errors_naming_the_parameter(tmp_path):
    config = tmp_path / "synthetic_config.py"
    config.write_text("model = dict(type='TopdownPoseEstimator')\n")
    with pytest.raises(ValueError, match="keypoints.mmpose_config is not set"):
        MmposeBackend({"mmpose_config": None, "mmpose_checkpoint": None})
    with pytest.raises(ValueError, match=r"keypoints.mmpose_checkpoint: the file .*absent.pth does not exist"):
        MmposeBackend({"mmpose_config": str(config), "mmpose_checkpoint": str(tmp_path / "absent.pth")})
    with pytest.raises(ValueError, match="keypoints.mmpose_device 'gpu' is not a torch device"):
        MmposeBackend({"mmpose_config": str(config), "mmpose_checkpoint": str(config), "mmpose_device": "gpu"})


@pytest.fixture(scope="module")
def mmpose_configs() -> Path:
    """The body_2d_keypoint configs shipped inside the installed mmpose package."""
    spec = importlib.util.find_spec("mmpose")
    if spec is None:
        pytest.skip("mmpose is not installed")
    return Path(spec.origin).parent / ".mim" / "configs" / "body_2d_keypoint"


@pytest.fixture(scope="module")
def rtmpose_t(mmpose_configs, tmp_path_factory) -> dict:
    """Params of a random-weights RTMPose-t checkpoint, saved as mmpose 1.x saves them.

    The first backbone convolution is set to a known constant (to see the weights loaded),
    and ``meta`` holds the dataset metadata with its numpy arrays plus a synthetic array
    (to exercise torch's safe unpickler).
    """
    import torch

    config = mmpose_configs / "rtmpose" / "coco" / "rtmpose-t_8xb256-420e_coco-256x192.py"
    apis = import_mmpose_apis()
    torch.manual_seed(0)  # the same random weights every run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = apis.init_model(read_config(config), None, "cpu")
    state = model.state_dict()
    state["backbone.stem.0.conv.weight"] = torch.full_like(state["backbone.stem.0.conv.weight"], 0.01)
    checkpoint = tmp_path_factory.mktemp("synthetic_rtmpose") / "rtmpose_t_random.pth"
    meta = {"dataset_meta": model.dataset_meta, "synthetic_array": np.arange(3, dtype=np.float64)}
    torch.save({"state_dict": state, "meta": meta}, checkpoint)
    return {"mmpose_config": str(config), "mmpose_checkpoint": str(checkpoint), "mmpose_device": "cpu"}


@pytest.fixture(scope="module")
def backend(rtmpose_t) -> MmposeBackend:
    return MmposeBackend(rtmpose_t)


def test_import_leaves_no_stand_in_behind(backend):
    assert "mmpose.apis" in sys.modules
    for name in STAND_INS:  # each is either absent again or the real, file-backed module
        assert name not in sys.modules or getattr(sys.modules[name], "__file__", None)


def test_read_config_runs_rtmpose_backbone_in_mmpose_scope_and_refuses_bottom_up(mmpose_configs):
    config = read_config(mmpose_configs / "rtmpose" / "coco" / "rtmpose-t_8xb256-420e_coco-256x192.py")
    assert config.model.backbone["_scope_"] == "mmpose"
    bottom_up = next((mmpose_configs / "rtmo" / "coco").glob("rtmo-s_*.py"))
    with pytest.raises(ValueError, match="needs a top-down model"):
        read_config(bottom_up)


def test_checkpoint_weights_and_dataset_meta_are_loaded(backend):
    stem = backend.model.state_dict()["backbone.stem.0.conv.weight"]
    assert np.allclose(stem.numpy(), 0.01)
    assert tuple(backend.model.dataset_meta["keypoint_id2name"].values()) == COCO17


def test_a_checkpoint_of_another_model_is_an_error_naming_the_parameter(rtmpose_t, tmp_path, capfd):
    import torch

    other = tmp_path / "synthetic_other_model.pth"
    torch.save({"state_dict": {"synthetic.weight": torch.zeros(2)}}, other)
    with pytest.raises(ValueError, match="keypoints.mmpose_checkpoint .* cannot be loaded"):
        MmposeBackend({**rtmpose_t, "mmpose_checkpoint": str(other)})
    assert capfd.readouterr() == ("", "")  # mmengine's "Loads checkpoint ..." stays out of the terminal


def test_safe_loading_still_refuses_other_pickled_objects(rtmpose_t, tmp_path):
    import torch

    dated = tmp_path / "synthetic_dated.pth"
    torch.save({"state_dict": {}, "meta": {"synthetic_date": datetime.date(2024, 1, 15)}}, dated)
    with pytest.raises(ValueError, match="torch loads safely .*datetime.date"):
        MmposeBackend({**rtmpose_t, "mmpose_checkpoint": str(dated)})


def test_estimate_pose_returns_image_pixels_that_move_with_the_crop(backend):
    rng = np.random.default_rng(0)
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[:, :300] = rng.integers(0, 256, size=(300, 300, 3))  # synthetic texture, black right strip
    box = np.array([60.0, 40.0, 200.0, 260.0])
    shift = 50
    keypoints, scores = backend.estimate_pose(image, box)
    shifted, shifted_scores = backend.estimate_pose(np.roll(image, shift, axis=1), box + [shift, 0, shift, 0])

    assert keypoints.shape == (N_JOINTS, 2) and scores.shape == (N_JOINTS,)
    # the same crop content, 50 px to the right: the same pose, 50 px to the right
    np.testing.assert_allclose(shifted, keypoints + [shift, 0], atol=1e-2)
    np.testing.assert_allclose(shifted_scores, scores, atol=1e-4)
    # inside the crop: the box padded by mmpose's 1.25 after widening to the 192:256 input
    centre_x, centre_y, half_height = 130.0, 150.0, 220 * 1.25 / 2
    half_width = half_height * 192 / 256
    assert np.all(np.abs(keypoints[:, 0] - centre_x) <= half_width + 1)
    assert np.all(np.abs(keypoints[:, 1] - centre_y) <= half_height + 1)


def test_hog_detector_finds_the_squatter_and_nobody_in_a_blank_image():
    import cv2

    detect = HogPeopleDetector()
    assert detect(np.zeros((600, 400, 3), dtype=np.uint8)).shape == (0, 4)
    capture = cv2.VideoCapture(str(SQUAT_VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 100)  # standing between the two squats
    ok, frame = capture.read()
    capture.release()
    assert ok
    boxes = detect(frame)
    height, width = frame.shape[:2]
    assert len(boxes) >= 1
    assert np.all((boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3]))
    assert np.all((boxes >= -1) & (boxes <= [width, height, width, height]))


@pytest.fixture
def squat_clip(tmp_path) -> Path:
    """Synthetic clip: the first 5 frames of the bundled squat video, re-encoded (MPEG-4, 30 fps)."""
    import cv2

    capture = cv2.VideoCapture(str(SQUAT_VIDEO))
    frames = [capture.read()[1] for _ in range(5)]
    capture.release()
    height, width = frames[0].shape[:2]
    clip = tmp_path / "synthetic_squat_clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return clip


def test_extract_follows_every_stride_th_frame_into_keypoint_table_rows(backend, squat_clip, monkeypatch):
    monkeypatch.setattr(backend, "stride", 2)
    series = backend.extract(squat_clip, "diagonal")

    np.testing.assert_array_equal(series.frame, [0, 2, 4])
    np.testing.assert_allclose(series.time_s, np.array([0, 2, 4]) / 30, atol=1e-3)
    assert (series.source, series.units, series.view) == ("mmpose_coco17", "px", "diagonal")
    assert series.image_size == (608, 1080)  # upright width x height of the clip
    rows = series_to_frame(series, "synthetic_set", "sq_video")
    assert list(rows.columns) == KEYPOINTS.names and len(rows) == 3
    # Boxes are clipped to the image, so every crop lies within the whole frame's crop: the
    # 608 x 1080 frame widened to the 192:256 input (810 x 1080), then padded by 1.25.
    half_width, half_height = 810 * 1.25 / 2, 1080 * 1.25 / 2
    # random weights score far above 1 on every joint: all found, confidence clipped to 1
    for joint in ("left_knee", "right_ankle", "nose", "neck", "mid_hip"):
        assert ((rows[f"{joint}_x"] - 304).abs() <= half_width + 1).all()
        assert ((rows[f"{joint}_y"] - 540).abs() <= half_height + 1).all()
        assert (rows[f"{joint}_conf"] == 1.0).all()
    assert rows[["head_x", "left_heel_x", "left_toe_y", "spine_mid_x"]].isna().all().all()  # not in COCO-17
    assert rows["left_knee_z"].isna().all()
    assert rows["derived_joints"].eq("neck,mid_hip").all()


def test_a_video_cut_off_in_transfer_is_video_truncated(backend, tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "stride", 16)  # 4 of the 64 decodable frames through the model
    with pytest.raises(SampleError) as caught:
        backend.extract(cut_real_video(tmp_path / "cut.mp4", index_at="first"), "diagonal")
    assert caught.value.reason == "video_truncated"
    assert f"decoded {CUT_DECODED_FRAMES} of {REAL_FRAMES} frames" in caught.value.detail


def test_a_bad_video_is_a_sample_error(backend, tmp_path):
    not_a_video = tmp_path / "synthetic_not_a_video.mp4"
    not_a_video.write_text("this is text, not a video")
    with pytest.raises(SampleError) as caught:
        backend.extract(not_a_video, "front")
    assert caught.value.reason == "unreadable_video"

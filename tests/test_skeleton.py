"""The canonical skeleton and the joint maps of every source."""

import numpy as np
import pytest

from formset.schemas.skeleton import CORE_JOINTS, JOINT_INDEX, JOINTS, MIDPOINTS, SOURCES, to_canonical


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_map_targets_canonical_joints_once(source):
    spec = SOURCES[source]
    targets = list(spec.to_canonical.values())
    assert len(targets) == len(set(targets)), "two source joints map onto one canonical joint"
    assert set(targets) <= set(JOINTS)
    assert set(spec.to_canonical) <= set(spec.joints)
    assert not set(spec.derived) & set(targets), "a derived joint is also measured"


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_core_joints_are_available_from_every_source(source):
    spec = SOURCES[source]
    available = set(spec.to_canonical.values()) | set(spec.derived)
    assert set(CORE_JOINTS) <= available


def test_coco18_maps_by_name_and_derives_mid_hip():
    spec = SOURCES["openpose_coco18"]
    n = len(spec.joints)
    points = np.arange(2 * n * 2, dtype=np.float32).reshape(2, n, 2)
    conf = np.full((2, n), 0.9, dtype=np.float32)
    conf[1, spec.joints.index("LHip")] = 0.4
    out, c = to_canonical(points, conf, "openpose_coco18")
    assert out.shape == (2, len(JOINTS), 3)
    np.testing.assert_array_equal(out[:, JOINT_INDEX["right_hip"], :2], points[:, 8])  # COCO-18 index 8 = RHip
    np.testing.assert_array_equal(out[:, JOINT_INDEX["left_ankle"], :2], points[:, 13])
    mid = (points[:, 8] + points[:, 11]) / 2
    np.testing.assert_allclose(out[:, JOINT_INDEX["mid_hip"], :2], mid)
    assert c[1, JOINT_INDEX["mid_hip"]] == pytest.approx(0.4), "a derived joint is as confident as its weaker parent"
    assert np.isnan(out[..., 2]).all(), "2-D sources leave z missing"
    assert np.isnan(out[:, JOINT_INDEX["head"]]).all(), "joints a source lacks are NaN, never 0"


def test_derived_joint_is_missing_when_a_parent_is_missing():
    n = len(SOURCES["mmpose_coco17"].joints)
    points = np.ones((1, n, 2), dtype=np.float32)
    points[0, SOURCES["mmpose_coco17"].joints.index("left_shoulder")] = np.nan
    out, _ = to_canonical(points, np.ones((1, n), dtype=np.float32), "mmpose_coco17")
    assert np.isnan(out[0, JOINT_INDEX["neck"]]).all()
    assert not np.isnan(out[0, JOINT_INDEX["mid_hip"], :2]).any()
    assert set(MIDPOINTS) == {"neck", "mid_hip"}


def test_kinect_keeps_measured_neck_base_and_3d():
    spec = SOURCES["kinect_v2"]
    points = np.random.default_rng(0).normal(size=(3, 25, 3)).astype(np.float32)
    out, _ = to_canonical(points, np.ones((3, 25), dtype=np.float32), "kinect_v2")
    np.testing.assert_array_equal(out[:, JOINT_INDEX["neck"]], points[:, spec.joints.index("SpineShoulder")])
    np.testing.assert_array_equal(out[:, JOINT_INDEX["mid_hip"]], points[:, spec.joints.index("SpineBase")])

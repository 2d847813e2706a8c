"""Tests of the body-frame inputs (``tasks.learning.body``) on hand-made skeletons whose angles are
known by construction, and of the models that read them (synthetic data, not people)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_exercise import EXERCISE_PARAMS, RECOGNITION, two_exercises
from test_train import PARAMS, synthetic_set

from formset.tasks.exercise import ExerciseModel, recognize_exercises
from formset.tasks.learning.body import (
    BODY_ANGLES,
    BODY_JOINTS,
    BODY_SEGMENTS,
    body_series,
    mirror_to_moving_side,
    series_summaries,
    to_body_frame,
)
from formset.tasks.learning.families import fit_model, rocket_inputs
from formset.tasks.learning.model_files import load_model, save_model
from formset.tasks.learning.sequences import build_sequences
from formset.tasks.train import train_and_evaluate

#: A standing person facing the camera (x to their left, y up, z towards the camera), 3-D.
STANDING = {
    "neck": (0.0, 1.0, 0.0), "mid_hip": (0.0, 0.0, 0.0), "head": (0.0, 1.3, 0.0),
    "left_shoulder": (0.3, 1.0, 0.0), "right_shoulder": (-0.3, 1.0, 0.0),
    "left_elbow": (0.3, 0.5, 0.0), "right_elbow": (-0.3, 0.5, 0.0),
    "left_wrist": (0.3, 0.1, 0.0), "right_wrist": (-0.3, 0.1, 0.0),
    "left_hip": (0.15, 0.0, 0.0), "right_hip": (-0.15, 0.0, 0.0),
    "left_knee": (0.15, -0.9, 0.0), "right_knee": (-0.15, -0.9, 0.0),
    "left_ankle": (0.15, -1.8, 0.0), "right_ankle": (-0.15, -1.8, 0.0),
    "left_toe": (0.15, -1.8, 0.2), "right_toe": (-0.15, -1.8, 0.2),
}  # fmt: skip
NAMES = tuple(f"{joint}_{axis}" for joint in BODY_JOINTS for axis in "xyz")
STEPS = 21


def raise_left_arm(plane_deg: float, top_deg: float = 80.0) -> np.ndarray:
    """(step, feature): standing still for 4 steps, then the straight left arm raised to
    ``top_deg`` above the horizontal from hanging, in a plane ``plane_deg`` forward of the
    frontal plane, and lowered; NAMES order."""
    pose = np.array([STANDING[j] for j in BODY_JOINTS], dtype=np.float64)
    frames = np.repeat(pose[np.newaxis], STEPS, axis=0)
    elevation = np.concatenate([np.full(4, -90.0), -90.0 + (top_deg + 90.0) * np.sin(np.linspace(0, np.pi, STEPS - 4))])
    plane = np.radians(plane_deg)
    shoulder = pose[BODY_JOINTS.index("left_shoulder")]
    for t, e in enumerate(np.radians(elevation)):
        direction = np.array([np.cos(e) * np.cos(plane), np.sin(e), np.cos(e) * np.sin(plane)])
        frames[t, BODY_JOINTS.index("left_elbow")] = shoulder + 0.5 * direction
        frames[t, BODY_JOINTS.index("left_wrist")] = shoulder + 0.9 * direction
    return frames.reshape(STEPS, -1)


def turned(frames: np.ndarray, degrees: float, scale: float = 1.0, shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    """``frames`` (step, feature) turned about the vertical, scaled and moved."""
    a = np.radians(degrees)
    rotation = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    points = frames.reshape(len(frames), -1, 3) @ rotation.T * scale + np.asarray(shift)
    return points.reshape(len(frames), -1)


def series_of(*executions: np.ndarray):
    X = np.stack(executions).astype(np.float32)
    return body_series(X, np.full(len(X), STEPS), NAMES, STEPS)


def test_the_body_frame_puts_the_hip_and_shoulder_line_on_x_and_the_rest_mid_hip_at_the_origin():
    frames = turned(raise_left_arm(0.0), 35.0, shift=(2.0, 0.5, -3.0)).reshape(1, STEPS, -1, 3)
    body = to_body_frame(frames, rest_steps=2)
    left, right = body[0, 0, BODY_JOINTS.index("left_hip")], body[0, 0, BODY_JOINTS.index("right_hip")]
    np.testing.assert_allclose(left, [0.15, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(right, [-0.15, 0.0, 0.0], atol=1e-9)
    # Facing away (the line points along -x) is turned onto -x, not mirrored.
    away = to_body_frame(turned(raise_left_arm(0.0), 180.0).reshape(1, STEPS, -1, 3), rest_steps=2)
    np.testing.assert_allclose(away[0, 0, BODY_JOINTS.index("left_hip")], [-0.15, 0.0, 0.0], atol=1e-9)


def test_angles_of_a_known_arm_raise():
    series, _ = series_of(raise_left_arm(40.0, top_deg=0.0))
    angles = series[0, 3 * len(BODY_SEGMENTS) :]  # (angle, step)
    top = np.argmax(angles[BODY_ANGLES.index("left_arm_elevation")])
    at_top = {name: angles[i, top] for i, name in enumerate(BODY_ANGLES)}
    assert at_top["left_arm_elevation"] == pytest.approx(0.0, abs=1e-4)  # raised to the horizontal
    assert at_top["left_arm_plane"] == pytest.approx(40.0, abs=1e-4)  # 40 degrees forward of the frontal plane
    assert at_top["left_shoulder"] == pytest.approx(90.0, abs=1e-4)  # upper arm square to the trunk
    assert at_top["left_elbow"] == pytest.approx(180.0, abs=1e-4)  # straight arm
    assert angles[BODY_ANGLES.index("left_shoulder"), 0] == pytest.approx(0.0, abs=1e-4)  # hanging at rest
    assert at_top["trunk_inclination"] == pytest.approx(0.0, abs=1e-4)
    assert at_top["stance_width"] == pytest.approx(0.3)
    assert at_top["right_arm_elevation"] == pytest.approx(-90.0)


def test_how_the_person_faces_stands_and_how_tall_they_are_do_not_change_the_channels():
    arm = raise_left_arm(30.0)
    series, summary = series_of(arm, turned(arm, 25.0, scale=1.7, shift=(1.0, 0.2, 2.0)), turned(arm, -60.0))
    stance = 3 * len(BODY_SEGMENTS) + BODY_ANGLES.index("stance_width")  # torso lengths: scales with the person
    np.testing.assert_allclose(np.delete(series[1], stance, axis=0), np.delete(series[0], stance, axis=0), atol=1e-4)
    np.testing.assert_allclose(series[1, stance], 1.7 * series[0, stance], rtol=1e-5)
    np.testing.assert_allclose(series[2], series[0], atol=1e-4)
    # Displacements (torso lengths, the first block) scale with the person; angles and
    # directions do not.
    n_displacement = 3 * len(BODY_JOINTS)
    np.testing.assert_allclose(summary[1, :n_displacement], 1.7 * summary[0, :n_displacement], atol=1e-5)
    np.testing.assert_allclose(np.delete(summary[1], n_displacement + stance - 3 * len(BODY_SEGMENTS), axis=0)[n_displacement:],
                               np.delete(summary[0], n_displacement + stance - 3 * len(BODY_SEGMENTS), axis=0)[n_displacement:],
                               atol=1e-4)  # fmt: skip
    # The displacements are 0 over the rest steps.
    assert np.abs(summary[0, :n_displacement, :1]).max() < 1e-6
    # The abduction plane differs: the channels tell the two raises apart.
    other, _ = series_of(raise_left_arm(0.0))
    assert np.abs(other[0] - series[0]).max() > 10.0


def test_fused_sequences_are_derived_view_by_view_and_other_channels_are_ignored():
    arm = raise_left_arm(0.0)
    names = (*(f"{n}@kinect" for n in NAMES), *(f"{n}@front" for n in NAMES), "angle_left_knee@kinect", "view_kinect")
    X = np.hstack([arm, turned(arm, 20.0), np.zeros((STEPS, 2))])[np.newaxis].astype(np.float32)
    series, summary = body_series(X, np.array([STEPS]), names, STEPS)
    width = 3 * len(BODY_SEGMENTS) + len(BODY_ANGLES)
    assert series.shape == (1, 2 * width, STEPS) and summary.shape == (1, 2 * (3 * len(BODY_JOINTS) + width), STEPS)
    np.testing.assert_allclose(series[0, :width], series[0, width:], atol=1e-5)
    assert body_series(X[:, :, -2:], np.array([STEPS]), names[-2:], STEPS)[0].shape == (1, 0, STEPS)
    # Without the directions the series is the angles of each view; the summary is the same.
    angles_only, same_summary = body_series(X, np.array([STEPS]), names, STEPS, directions=False)
    assert angles_only.shape == (1, 2 * len(BODY_ANGLES), STEPS)
    np.testing.assert_allclose(angles_only[0, : len(BODY_ANGLES)], series[0, 3 * len(BODY_SEGMENTS) : width])
    np.testing.assert_allclose(same_summary, summary)


def test_series_summaries_of_a_known_series():
    series = np.array([[[0.0, 2.0, -1.0, 3.0, 1.0]]])
    out = series_summaries(series, np.array([1.5]))
    np.testing.assert_allclose(out[0], [-1.0, 3.0, 4.0, 1.0, np.sqrt(2.0), 0.5, 0.75, 1.5])


@pytest.mark.parametrize("family", ["minirocket", "kinematic"])
def test_models_on_body_frame_inputs_learn_the_fault_and_reload_identically(family, tmp_path):
    features, samples = synthetic_set()
    params = replace(PARAMS, model=family, exercise_mode="per_exercise", body_frame=True)
    result = train_and_evaluate(features, samples, params)
    assert result.metrics["accuracy"] >= 0.9, result.metrics
    assert all(model.body_frame for model in result.model.models.values())
    save_model(result.model, tmp_path / "model.pt", {})
    loaded, _ = load_model(tmp_path / "model.pt")
    seqs = build_sequences(features, samples, params)
    everyone = np.arange(len(seqs.y))
    np.testing.assert_allclose(loaded.predict(seqs, everyone), result.model.predict(seqs, everyone), rtol=1e-6)
    # The inputs are the body channels, not the positions as they are; the classifier's
    # MiniRocket convolves the angles only.
    plain, _ = rocket_inputs(seqs, everyone[:2], 24, False, False)
    body, _ = rocket_inputs(seqs, everyone[:2], 24, True, True)
    angles, _ = rocket_inputs(seqs, everyone[:2], 24, True, True, directions=False)
    assert plain.shape[1] != body.shape[1]
    assert body.shape[1] == 3 * len(BODY_SEGMENTS) + len(BODY_ANGLES)  # one view per sequence
    assert angles.shape[1] == len(BODY_ANGLES)
    if family == "minirocket":
        model = next(iter(result.model.models.values()))
        assert len(model.channel_mean) == angles.shape[1]


def test_a_model_saved_before_body_frame_inputs_reads_positions_as_they_are():
    features, samples = synthetic_set(n_subjects=6)
    params = replace(PARAMS, model="minirocket", exercise_mode="input")
    seqs = build_sequences(features, samples, params)
    model = fit_model(seqs, np.arange(len(seqs.y)), params)
    state = model.state()
    for saved in state["models"].values():
        del saved["body_frame"]
    from formset.tasks.learning.families import TrainedModel

    old = TrainedModel.from_state(state)
    assert not any(m.body_frame for m in old.models.values())
    rows = np.arange(len(seqs.y))
    np.testing.assert_allclose(old.predict(seqs, rows), model.predict(seqs, rows))


def test_recognition_on_body_frame_inputs_names_unseen_people_s_exercise_and_reloads():
    features, samples = two_exercises()
    recognition = replace(RECOGNITION, body_frame=True)
    seqs = build_sequences(features, samples, EXERCISE_PARAMS, labeled_only=False)
    result = recognize_exercises(seqs, EXERCISE_PARAMS, recognition)
    assert result.metrics["accuracy"] == 1.0
    assert result.model.features.body_frame
    reloaded = ExerciseModel.from_state(result.model.state())
    rows = np.arange(len(seqs.y))
    np.testing.assert_allclose(reloaded.predict_proba(seqs, rows), result.model.predict_proba(seqs, rows))


def mirror_image(frames: np.ndarray) -> np.ndarray:
    """``frames`` (step, feature) seen in a mirror: x negated, left and right joints swapped."""
    points = frames.reshape(len(frames), len(BODY_JOINTS), 3) * np.array([-1.0, 1.0, 1.0])
    swapped = [BODY_JOINTS.index(j.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")) for j in BODY_JOINTS]
    return points[:, swapped].reshape(len(frames), -1)


def test_mirrored_sides_read_a_left_arm_raise_as_the_same_right_arm_raise():
    left = raise_left_arm(30.0)
    right = mirror_image(left)
    as_recorded = body_series(np.stack([left, right]), np.full(2, STEPS), NAMES, STEPS)[0]
    mirrored = body_series(np.stack([left, right]), np.full(2, STEPS), NAMES, STEPS, mirror_sides=True)[0]
    assert not np.allclose(as_recorded[0], as_recorded[1], atol=1e-6)
    np.testing.assert_allclose(mirrored[0], mirrored[1], atol=1e-9)
    # The moving side is read as the right one: the right arm's elevation reaches 80 degrees.
    elevation = mirrored[0, -len(BODY_ANGLES) + BODY_ANGLES.index("right_arm_elevation")]
    assert elevation.max() == pytest.approx(80.0, abs=0.5)
    np.testing.assert_allclose(mirrored[1], as_recorded[1], atol=1e-9)


def test_mirroring_leaves_an_execution_whose_right_side_moved_more_as_it_is():
    frames = np.stack([mirror_image(raise_left_arm(0.0))]).reshape(1, STEPS, -1, 3)
    body = to_body_frame(frames, rest_steps=2)
    np.testing.assert_array_equal(mirror_to_moving_side(body, rest_steps=2), body)
    moved_left = to_body_frame(raise_left_arm(0.0).reshape(1, STEPS, -1, 3), rest_steps=2)
    flipped = mirror_to_moving_side(moved_left, rest_steps=2)
    np.testing.assert_allclose(flipped[0, :, BODY_JOINTS.index("right_wrist"), 0], -moved_left[0, :, BODY_JOINTS.index("left_wrist"), 0])

"""Views fused (``tasks.learning.sequences.fuse_views``, ``train.view_fusion: fused``) and features
read among the same person's executions (``train.person_normalization``) on hand-made arrays
whose results are known by construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_train import PARAMS, synthetic_set

from formset.tasks.learning.families import MiniRocket, TrainedModel, by_person, center_by_person, fit_model, rank_by_person
from formset.tasks.learning.sequences import FUSED_VIEW, Sequences, build_sequences, fuse_views


def two_view_sequences() -> Sequences:
    """Sample ``a``: front at 0, 0.1 .. 0.4 s (channel = 10 t), kinect at 0.1 .. 0.5 s
    (channel = -t); sample ``b``: kinect only, 3 frames at 0, 0.5, 1 s (channel = 2)."""
    X = np.zeros((3, 5, 3), dtype=np.float32)  # feature: value, view_front, view_kinect
    time_s = np.zeros((3, 5))
    time_s[0] = [0.0, 0.1, 0.2, 0.3, 0.4]
    X[0, :, 0], X[0, :, 1] = 10 * time_s[0], 1.0
    time_s[1] = [0.1, 0.2, 0.3, 0.4, 0.5]
    X[1, :, 0], X[1, :, 2] = -time_s[1], 1.0
    time_s[2, :3] = [0.0, 0.5, 1.0]
    X[2, :3, 0], X[2, :3, 2] = 2.0, 1.0
    strings = lambda *v: np.array(v, dtype=object)  # noqa: E731
    return Sequences(
        X=X, lengths=np.array([5, 5, 3]), y=np.array([1, 1, 0]), subject=strings("p", "p", "q"),
        set_id=strings("s", "s", "s"), sample_id=strings("a", "a", "b"), view=strings("front", "kinect", "kinect"),
        exercise=strings("squat", "squat", "squat"), duration_s=np.array([0.4, 0.4, 1.0]),
        feature_names=("value", "view_front", "view_kinect"), time_s=time_s,
    )  # fmt: skip


def test_views_are_aligned_on_the_recordings_times_and_a_missing_view_is_zero_and_absent():
    fused, sample_of_row = fuse_views(two_view_sequences(), np.arange(3))
    np.testing.assert_array_equal(sample_of_row, [0, 0, 1])
    assert fused.feature_names == ("value@front", "value@kinect", "view_front", "view_kinect")
    assert list(fused.view) == [FUSED_VIEW] * 2 and list(fused.sample_id) == ["a", "b"]
    np.testing.assert_array_equal(fused.lengths, [5, 3])
    np.testing.assert_allclose(fused.duration_s, [0.5, 1.0])
    # Sample a's grid spans both views: 0 .. 0.5 s in 5 steps (0.125 s apart).
    grid = np.linspace(0.0, 0.5, 5)
    np.testing.assert_allclose(fused.time_s[0], grid)
    front_covers = grid <= 0.4
    np.testing.assert_allclose(fused.X[0, :, 0], np.where(front_covers, 10 * grid, 0.0), atol=1e-6)
    np.testing.assert_array_equal(fused.X[0, :, 2], front_covers)
    kinect_covers = grid >= 0.1
    np.testing.assert_allclose(fused.X[0, :, 1], np.where(kinect_covers, -grid, 0.0), atol=1e-6)
    np.testing.assert_array_equal(fused.X[0, :, 3], kinect_covers)
    # Sample b has no front view: its channels and presence are 0; padding after length 3 too.
    np.testing.assert_array_equal(fused.X[1, :, 0], 0.0)
    np.testing.assert_array_equal(fused.X[1, :, 2], 0.0)
    np.testing.assert_allclose(fused.X[1, :3, 1], 2.0)
    np.testing.assert_array_equal(fused.X[1, 3:], 0.0)
    assert list(fused.y) == [1, 0] and list(fused.subject) == ["p", "q"]


def test_fusing_some_rows_maps_each_to_its_sample():
    fused, sample_of_row = fuse_views(two_view_sequences(), np.array([2, 1]))
    assert list(fused.sample_id) == ["b", "a"]
    np.testing.assert_array_equal(sample_of_row, [0, 1])
    np.testing.assert_array_equal(fused.X[1, :, 2], 0.0)  # a's front view was not among the rows


@pytest.mark.parametrize("family", ["kinematic", "minirocket"])
def test_a_fused_model_gives_every_view_of_a_sample_one_probability(family):
    features, samples = synthetic_set(n_subjects=8)
    seqs = build_sequences(features, samples, PARAMS)
    rows = np.arange(len(seqs.y))
    model = fit_model(seqs, rows, replace(PARAMS, model=family, view_fusion="fused"))
    assert model.view_fusion == "fused"
    p = model.predict(seqs, rows)
    by_sample = {}
    for sample, value in zip(seqs.sample_id, p):
        by_sample.setdefault(sample, set()).add(value)
    assert all(len(values) == 1 for values in by_sample.values())
    assert ((p >= 0.5) == (seqs.y == 1)).mean() == 1.0  # the knee offset, seen in both views
    reloaded = TrainedModel.from_state(model.state())
    assert reloaded.view_fusion == "fused"
    np.testing.assert_allclose(reloaded.predict(seqs, rows), p)


def test_an_unknown_view_fusion_is_refused_with_the_choices():
    features, samples = synthetic_set(n_subjects=4)
    seqs = build_sequences(features, samples, PARAMS)
    with pytest.raises(ValueError, match="train.view_fusion is 'stacked': use one of average, fused"):
        fit_model(seqs, np.arange(len(seqs.y)), replace(PARAMS, model="kinematic", view_fusion="stacked"))


def test_centering_by_person_removes_each_person_s_mean_per_exercise():
    X = np.array([[1.0, 10.0], [3.0, 14.0], [5.0, 0.0], [7.0, 7.0]])
    out = center_by_person(X, np.array(["p", "p", "p", "q"]), np.array(["squat", "squat", "lunge", "squat"]))
    np.testing.assert_allclose(out, [[-1.0, -2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]])


def test_ranking_by_person_spans_minus_half_to_half_within_each_person_and_exercise():
    X = np.array([[3.0, 1.0], [1.0, 1.0], [2.0, 5.0], [9.0, 9.0], [4.0, 0.0]])
    out = rank_by_person(X, np.array(["p", "p", "p", "q", "p"]), np.array(["squat", "squat", "squat", "squat", "lunge"]))
    # p's squats: 3, 1, 2 -> ranks 2, 0, 1 of 0..2; ties (1, 1) share rank 0.5; a lone execution is 0.
    np.testing.assert_allclose(out, [[0.5, -0.25], [-0.5, -0.25], [0.0, 0.5], [0.0, 0.0], [0.0, 0.0]])


def test_person_normalization_none_leaves_features_as_they_are():
    X = np.array([[1.0], [3.0]])
    assert by_person(X, np.array(["p", "p"]), np.array(["squat", "squat"]), "none") is X
    np.testing.assert_allclose(by_person(X, np.array(["p", "p"]), np.array(["squat", "squat"]), "center"), [[-1.0], [1.0]])


@pytest.mark.parametrize("person", ["none", "rank"])
def test_a_ranked_model_judges_an_execution_among_the_person_s_others(person):
    features, samples = synthetic_set(n_subjects=8, samples_per_subject=2)
    # Each person of the synthetic set squats one way; pairs of them make people who do both.
    samples["subject_id"] = "m" + (samples["subject_id"].str[1:].astype(int) // 2).astype(str)
    seqs = build_sequences(features, samples, PARAMS)
    params = replace(PARAMS, model="minirocket", exercise_mode="per_exercise", person_normalization=person)
    model = fit_model(seqs, np.arange(len(seqs.y)), params)
    person_rows = np.flatnonzero(seqs.subject == seqs.subject[0])
    first = person_rows[0]
    alone = model.predict(seqs, np.array([first]))[0]
    among = model.predict(seqs, person_rows)[0]
    if person == "none":
        assert alone == pytest.approx(among)
    else:
        # Ranked among nothing, every feature is 0: the execution reads as the person's middle one.
        assert alone != pytest.approx(among, abs=1e-6)


def test_a_minirocket_model_saved_before_person_normalization_reads_its_old_flags():
    features, samples = synthetic_set(n_subjects=4)
    seqs = build_sequences(features, samples, PARAMS)
    params = replace(PARAMS, model="minirocket", exercise_mode="input", body_frame=True)
    model = fit_model(seqs, np.arange(len(seqs.y)), params).models["*"]
    state = model.state()
    del state["person_normalization"], state["decision_scale"], state["mirror_sides"]
    old = MiniRocket.from_state({**state, "person_centered": True})
    assert (old.person_normalization, old.decision_scale, old.mirror_sides) == ("center", 2.0, False)
    new = MiniRocket.from_state(model.state())
    assert (new.person_normalization, new.decision_scale, new.mirror_sides) == ("none", 1.0, True)

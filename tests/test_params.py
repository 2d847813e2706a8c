"""params.yaml read as typed, checked groups: every wrong key or value is one line naming the key,
the file and what is allowed, before any stage runs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from formset.config import Project
from formset.params import NormalizeParams, ParamsError, TrainParams, group, load, parse, plain

REPO = Path(__file__).resolve().parent.parent
RAW = yaml.safe_load((REPO / "params.yaml").read_text())


def changed(path: str, value) -> dict:
    """params.yaml's content with the key at dotted ``path`` set to ``value`` (``...``: removed)."""
    raw = copy.deepcopy(RAW)
    *parents, last = path.split(".")
    node = raw
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return raw


def test_plain_params_are_params_yaml_s_own_values_and_parse_back_to_the_same_groups():
    params = load(REPO / "params.yaml")
    recorded = plain(params)
    # What provenance and model files keep: mappings, lists and scalars, as params.yaml has them.
    assert recorded == yaml.safe_load(yaml.safe_dump(recorded))
    assert recorded["train"]["views"] == ["front", "diagonal", "side", "kinect"]
    assert recorded["reps"]["exercises"]["squat"]["signal"] == ["mid_hip_y"]
    assert parse(recorded) == params
    assert plain({"exercise_model": params.recognition, "seed": 7}) == {"exercise_model": RAW["recognition"], "seed": 7}


def test_a_group_read_back_from_a_model_file_is_checked_and_names_that_file():
    saved = plain(load(REPO / "params.yaml").train)
    assert group(TrainParams, saved, "version v1: models/classifier.pt") == load(REPO / "params.yaml").train
    del saved["body_frame"]
    with pytest.raises(ParamsError, match=r"^version v1: models/classifier.pt: body_frame is missing"):
        group(TrainParams, saved, "version v1: models/classifier.pt")
    with pytest.raises(ParamsError, match=r"^version v1: params.yaml: smoothing_sigma must be a number, got 'wide'"):
        group(NormalizeParams, {**RAW["normalize"], "smoothing_sigma": "wide"}, "version v1: params.yaml")


def test_the_repository_s_params_parse_into_typed_groups():
    params = load(REPO / "params.yaml")
    assert params.train.cv_folds == 5 and params.train.model == "minirocket"
    assert params.train.minirocket.features == 10000
    assert params.train.views == ("front", "diagonal", "side", "kinect")
    assert params.reps.exercises["squat"].signal == ("mid_hip_y",) and params.reps.exercises["squat"].upright is True
    assert params.reps.exercises["deadlift"].upright is None
    assert params.runner.address is None and params.serve.worker_max_jobs is None
    assert params.normalize.smoothing_sigma == 1.0 and isinstance(params.reps.exercises["bicep_curl"].min_range, float)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("train.cv_foldz", 5, "params.yaml: train.cv_foldz is not a parameter: train has seed, threads,"),
        ("train.cv_folds", ..., "params.yaml: train.cv_folds is missing"),
        ("train.cv_folds", "five", "params.yaml: train.cv_folds must be a whole number, got 'five'"),
        ("train.cv_folds", 1, "params.yaml: train.cv_folds is 1: it must be at least 2"),
        ("train.cv_folds", True, "params.yaml: train.cv_folds must be a whole number, got True"),
        ("train.model", "xgboost", "params.yaml: train.model is 'xgboost': use one of conv_lstm, kinematic, minirocket"),
        ("train.views", ["front", "back"], "params.yaml: train.views holds 'back': use names of front, diagonal, side, kinect"),
        ("train.views", "front", "params.yaml: train.views must be a list, got 'front'"),
        ("train.minirocket", {"length": 100}, "params.yaml: train.minirocket.features is missing"),
        ("normalize.min_confidence", 1.5, "params.yaml: normalize.min_confidence is 1.5: it must be between 0 and 1"),
        ("reps.exercises.squat.direction", "sideways", "params.yaml: reps.exercises.squat.direction is 'sideways': use one of down, up"),
        ("reps.exercises.plank", {"signal": ["neck_y"], "direction": "down", "min_range": 0.1, "angle": [], "upright": True},
         "params.yaml: reps.exercises.plank is not in `exercises`"),
        ("serve", None, "params.yaml: serve must be a mapping of workers, max_queue,"),
        ("analyze", ..., "params.yaml: analyze is missing"),
    ],
)  # fmt: skip
def test_a_wrong_key_or_value_is_one_line_naming_it_and_what_is_allowed(path, value, message):
    with pytest.raises(ParamsError) as error:
        parse(changed(path, value))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_whole_number_is_a_number_where_a_float_is_meant():
    assert parse(changed("normalize.smoothing_sigma", 2)).normalize.smoothing_sigma == 2.0
    assert parse(changed("runner.address", "tcp://h:8786")).runner.address == "tcp://h:8786"


def test_the_project_checks_its_params_and_the_cli_says_so_in_one_line_before_any_stage(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed("train.cv_folds", "five")))
    with pytest.raises(ParamsError, match="train.cv_folds must be a whole number"):
        Project(tmp_path).params()
    run = subprocess.run([sys.executable, "-m", "formset.cli", "run"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "FORMSET_ROOT": str(tmp_path), "COLUMNS": "200"})  # fmt: skip
    assert run.returncode == 2
    assert run.stdout.strip() == "params.yaml: train.cv_folds must be a whole number, got 'five'"
    assert not (tmp_path / "data").exists() and not (tmp_path / ".formset").exists(), "nothing ran"

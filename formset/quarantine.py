"""Bad input is data: per-sample quarantine records, and stages that skip with a reason.

A stage that rejects a sample returns a ``Rejection`` instead of raising; the flow collects
them into the stage's quarantine table (schema ``QUARANTINE``) and the rest of the set
proceeds. A stage that cannot do its work at all because of what the dataset holds (no
labeled samples, one person, one class) raises ``StageSkipped``: the flow writes the stage's
outputs as "skipped: reason" and the rest of the build is recorded and published.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from formset.schemas.tables import QUARANTINE
from formset.schemas.vocab import GENDERS, SOURCE_COLUMNS

#: What to do about each quarantine reason, said once per reason (``formset quarantine``,
#: ``formset add-set``); each record's ``detail`` says what is wrong in that sample.
FIXES: dict[str, str] = {
    # ingest: the set as a whole
    "missing_set_yaml": "add set.yaml, naming the set_id, to the set folder",
    "bad_set_yaml": "correct set.yaml as the problem says",
    "missing_samples_csv": "add samples.csv to the set folder",
    "bad_samples_csv": "save samples.csv again as 'CSV UTF-8' with a header row naming its columns",
    "missing_columns": "add the missing columns to the header of samples.csv",
    "set_id_mismatch": "rename the set folder to its set_id, or correct set_id in set.yaml",
    # ingest: rows of samples.csv
    "bad_row": "put a value containing a comma in double quotes",
    "bad_sample_id": "use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit",
    "duplicate_sample_id": "give each row its own sample_id",
    "missing_subject_id": "fill in the person's subject_id",
    "unknown_exercise": "add it to params.yaml: exercises, or correct the name",
    "bad_label": "use correct or incorrect, or leave the label empty",
    "bad_fault": "use 1 or 0, or leave the fault empty",
    "fault_on_correct": "correct the label or the fault: a correct execution has no fault",
    "bad_value": "correct the value as the problem says, or leave it empty",
    "no_source": "name the sample's video, Kinect CSV or OpenPose folder in its source column",
    "path_escape": "copy the file into the set folder and name it relative to that folder",
    "missing_file": "copy the file into the set folder, or correct its path in samples.csv",
    "bad_source": "name a file in a video or Kinect column, a folder of .json frames in an OpenPose column",
    "unreadable_file": "copy the file into the set again (and check that it can be read)",
    # keypoints: the source files
    "empty_file": "export the recording's file again: it holds no data",
    "bad_header": "correct the Kinect CSV's header: frame, time_s, then <Joint>_x/_y/_z/_state",
    "malformed_csv": "correct or remove the line the problem names",
    "bad_frame_index": "number the frames with whole numbers that increase from row to row",
    "bad_time": "give time_s in seconds, increasing from row to row",
    "unknown_units": "give a known unit (kinect_units in set.yaml)",
    "bad_json": "export the OpenPose frame again",
    "duplicate_frame": "keep one file per frame in the OpenPose folder",
    "no_frames": "name the frames <name>_<12-digit frame number>_keypoints.json",
    "mixed_keypoint_format": "run one OpenPose model (BODY_25 or COCO-18) for the whole folder",
    "unknown_keypoint_format": "deliver OpenPose BODY_25 or COCO-18 output",
    "no_person_detected": "record again with the performer in view and lit",
    "no_pose_backend": "set keypoints.pose_backend in params.yaml to mediapipe or mmpose, or deliver OpenPose keypoints",
    "too_few_frames": "record longer with the performer in view (params.yaml: keypoints.min_frames)",
    "empty_video": "export the video again: it holds no frames",
    "unreadable_video": "export the video again as H.264 MP4",
    "video_truncated": "copy the whole video into the set again: the file was cut off in transfer",
    # normalize: the keypoints
    "no_reference_frame": "record again with the whole upper body in view",
    "degenerate_torso": "extract that view's keypoints again: they are not a body",
    "duplicate_frames": "extract that view's keypoints again: one row per frame",
    # validate: critical checks (schemas/expectations.py) that fail in a few samples only
    "missing_value": "extract the keypoints again; if the value stays empty, report the sample",
    "duplicate_sample": "give each row of samples.csv its own sample_id",
    "bad_fault_flag": "use 1 or 0, or leave the fault empty",
    "bad_gender": f"use one of {', '.join(GENDERS)}, or leave it empty",
    "unknown_view": f"name each source in its column of samples.csv ({', '.join(SOURCE_COLUMNS)})",
    "negative_frame": "number the frames of the source from 0",
    "frames_not_increasing": "deliver each frame once, numbered in order",
    "bad_confidence": "export the keypoints again: a confidence lies between 0 and 1",
    "angle_out_of_range": "extract that view's keypoints again: its joint angles are not a body's",
    # validate: warnings (the sample is flagged and kept)
    "implausible_performer": "check the performer's age, height_cm and weight_kg in samples.csv",
    "incomplete_keypoints": "check the recording: core joints are hidden or out of frame in many frames",
    "implausible_coordinates": "check that view's keypoints: some detections are far from the body",
}
#: What to do about a reason ``FIXES`` does not know.
SEE_DETAIL = "see what is wrong"


@dataclass(frozen=True)
class Rejection:
    """Why one sample (or a whole set, ``sample_id=None``) was set aside.

    Attributes
    ----------
    reason
        A short stable code people can filter on (``missing_file``, ``bad_label``, ...).
    detail
        A sentence a non-programmer can act on: which row, which column, what is wrong,
        what is expected.
    value
        The offending value as text, when there is one.
    """

    set_id: str
    sample_id: str | None
    stage: str
    reason: str
    detail: str
    value: str | None = None


class SampleError(Exception):
    """Raised inside a stage for one sample's bad input; carries the quarantine reason."""

    def __init__(self, reason: str, detail: str, value: object = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.value = None if value is None else str(value)

    def rejection(self, set_id: str, sample_id: str | None, stage: str) -> Rejection:
        return Rejection(set_id, sample_id, stage, self.reason, self.detail, self.value)


class StageSkipped(Exception):
    """Raised by a stage whose work the dataset does not allow; ``reason`` says why in words
    a data engineer acts on (what is missing, what would make the stage run)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def to_frame(rejections: list[Rejection]) -> pd.DataFrame:
    """Quarantine records as a DataFrame with the ``QUARANTINE`` columns."""
    return pd.DataFrame([asdict(r) for r in rejections], columns=QUARANTINE.names)

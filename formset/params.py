"""``params.yaml`` as typed, checked parameters: one frozen dataclass per group.

``parse`` reads the whole file once and checks every key before any stage runs: an unknown
key, a missing one, a value of the wrong type or outside its range is one line naming the
key, the file and what is allowed (``ParamsError``), not a ``KeyError`` deep inside a stage.
The dataclasses say what each key is; ``params.yaml`` holds the values, with their
explanations in its comments.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar, Union

import yaml

from formset.schemas.skeleton import AXES, JOINTS
from formset.schemas.tables import ANGLES
from formset.schemas.vocab import VIEWS

#: What a value of each scalar type is called in a message.
KIND_WORDS: dict[type, str] = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


#: Choices that code outside this module also lists (the task runner, the model families).
RunnerKind = Literal["processes", "threads", "dask"]
ModelFamily = Literal["conv_lstm", "kinematic", "minirocket"]
ExerciseMode = Literal["input", "per_exercise"]
ViewFusion = Literal["average", "fused"]
PersonNormalization = Literal["none", "center", "rank"]


#: A params group's dataclass.
G = TypeVar("G")


class ParamsError(ValueError):
    """A parameter is missing, unknown, or not what its key allows; the message is one line."""


def in_range(low: float, high: float = math.inf) -> Any:
    """A field whose value lies in ``[low, high]``."""
    return field(metadata={"range": (low, high)})


def names_of(allowed: tuple[str, ...]) -> Any:
    """A field whose (tuple) value holds only names of ``allowed``."""
    return field(metadata={"names": allowed})


def fraction() -> Any:
    return in_range(0.0, 1.0)


def positive() -> Any:
    return in_range(0.0)


def count() -> Any:
    return in_range(1)


@dataclass(frozen=True)
class IngestParams:
    sets_dir: str


@dataclass(frozen=True)
class RunnerParams:
    kind: RunnerKind
    workers: int = count()
    address: str | None
    samples_per_task: int = count()


@dataclass(frozen=True)
class KeypointsParams:
    openpose_min_confidence: float = fraction()
    min_frames: int = count()
    pose_backend: Literal["mediapipe", "mmpose", "none"]
    video_stride: int = count()
    min_decoded_fraction: float = fraction()
    video_max_side: int | None = count()
    min_detection_confidence: float = fraction()
    mmpose_config: str | None
    mmpose_checkpoint: str | None
    mmpose_device: str


@dataclass(frozen=True)
class NormalizeParams:
    reference_window: int = count()
    max_gap_frames: int = in_range(0, math.inf)
    smoothing_sigma: float = positive()
    min_confidence: float = fraction()


@dataclass(frozen=True)
class ValidateParams:
    max_missing_rate: float = fraction()
    max_abs_normalized: float = positive()
    max_quarantined_share: float = fraction()


@dataclass(frozen=True)
class ClusterParams:
    views: tuple[str, ...] = names_of(VIEWS)
    eps: float = positive()
    min_samples: int = count()
    max_distance: float = positive()
    max_fit_points: int = count()


@dataclass(frozen=True)
class CompareParams:
    views: tuple[str, ...] = names_of(VIEWS)
    joints: tuple[str, ...] = names_of(JOINTS)
    axes: tuple[str, ...] = names_of(AXES)
    references: dict[str, str]


@dataclass(frozen=True)
class KinematicModelParams:
    C: float = positive()


@dataclass(frozen=True)
class MiniRocketModelParams:
    length: int = count()
    features: int = count()
    C: float = positive()


@dataclass(frozen=True)
class FaultModelParams:
    length: int = count()
    features: int = count()
    inner_folds: int = in_range(2, math.inf)


@dataclass(frozen=True)
class TrainParams:
    seed: int
    threads: int = count()
    device: str
    model: ModelFamily
    exercise_mode: ExerciseMode
    view_fusion: ViewFusion
    person_normalization: PersonNormalization
    body_frame: bool
    cv_folds: int = in_range(2, math.inf)
    views: tuple[str, ...] = names_of(VIEWS)
    joints: tuple[str, ...] = names_of(JOINTS)
    axes: tuple[str, ...] = names_of(AXES)
    angles: tuple[str, ...] = names_of(ANGLES)
    validation_subject_fraction: float = in_range(0.0, 0.9)
    patience: int = count()
    max_frames: int = count()
    epochs: int = count()
    batch_size: int = count()
    learning_rate: float = positive()
    dropout: float = in_range(0.0, 0.99)
    conv_filters: tuple[int, ...]
    conv_kernels: tuple[int, ...]
    lstm_units: int = count()
    dense_units: int = count()
    kinematic: KinematicModelParams
    minirocket: MiniRocketModelParams
    fault_model: FaultModelParams


@dataclass(frozen=True)
class RecognitionParams:
    length: int = count()
    features: int = count()
    body_frame: bool


@dataclass(frozen=True)
class ExerciseRepsParams:
    signal: tuple[str, ...]
    direction: Literal["down", "up"]
    min_range: float = positive()
    angle: tuple[str, ...]
    upright: bool | None


@dataclass(frozen=True)
class TempoParams:
    irregular_std_s: float = positive()
    too_fast_s: float = positive()
    too_slow_s: float = positive()


@dataclass(frozen=True)
class RepsParams:
    recognition_min_margin: float = positive()
    exercises: dict[str, ExerciseRepsParams]
    default_min_range: float = positive()
    max_gap_s: float = positive()
    smoothing_s: float = positive()
    rest_percentile: float = in_range(50.0, 100.0)
    min_depth: float = fraction()
    min_prominence: float = fraction()
    rest_speed_fraction: float = fraction()
    min_rep_s: float = positive()
    min_present_fraction: float = fraction()
    posture_views: tuple[str, ...] = names_of(VIEWS)
    moment_arm_views: tuple[str, ...] = names_of(VIEWS)
    view_preference: tuple[str, ...] = names_of(VIEWS)
    tempo: TempoParams


@dataclass(frozen=True)
class AnalyzeParams:
    overlay_max_side: int = count()


@dataclass(frozen=True)
class ServeParams:
    workers: int = count()
    max_queue: int = in_range(0, math.inf)
    max_upload_mb: float = positive()
    max_seconds: float = positive()
    keep_hours: float = positive()
    overlay_max_side: int = count()
    worker_max_jobs: int | None = count()


@dataclass(frozen=True)
class NightlyParams:
    deployment: str
    cron: str
    timezone: str
    wait_s: float = positive()


@dataclass(frozen=True)
class Params:
    """Every group of ``params.yaml``."""

    exercises: tuple[str, ...]
    ingest: IngestParams
    runner: RunnerParams
    keypoints: KeypointsParams
    normalize: NormalizeParams
    validate: ValidateParams
    cluster: ClusterParams
    compare: CompareParams
    train: TrainParams
    recognition: RecognitionParams
    reps: RepsParams
    analyze: AnalyzeParams
    serve: ServeParams
    nightly: NightlyParams


def load(path: str | Path) -> Params:
    """``parse`` of the YAML file at ``path``."""
    path = Path(path)
    return parse(yaml.safe_load(path.read_text()), path.name)


def parse(raw: Any, source: str = "params.yaml") -> Params:
    """Typed, checked parameters from the mapping ``raw`` (``params.yaml`` as loaded).

    Raises
    ------
    ParamsError
        The first key that is missing, unknown, of the wrong type or out of range; the
        message names it (``train.cv_folds``), ``source``, and what is allowed.
    """
    params = _value(raw, Params, "", source, {})
    unknown = [e for e in params.reps.exercises if e not in params.exercises]
    if unknown:
        raise ParamsError(f"{source}: reps.exercises.{unknown[0]} is not in `exercises` ({', '.join(params.exercises)})")
    return params


def group(kind: type[G], raw: Any, source: str) -> G:
    """One params group ``kind`` (``TrainParams`` ...) from the mapping ``raw``, checked as
    ``parse`` checks it; ``source`` names where ``raw`` came from in a message (a model
    file's saved parameters)."""
    return _dataclass(raw, kind, "", source)


def plain(params: Any) -> Any:
    """``params`` (a group, ``Params`` or anything JSON-able) as plain JSON and YAML values
    (mappings, lists, scalars): what provenance records and model files keep."""
    if is_dataclass(params):
        return plain(asdict(params))
    if isinstance(params, dict):
        return {key: plain(value) for key, value in params.items()}
    if isinstance(params, (list, tuple)):
        return [plain(value) for value in params]
    return params


# ------------------------------------------------------------------ the generic checker
def _value(value: Any, kind: Any, key: str, source: str, metadata: Mapping) -> Any:
    """``value`` checked as ``kind`` (a type hint) at ``key``, converted (lists to tuples,
    mappings to dataclasses)."""
    where = f"{source}: {key}" if key else source
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _value(value, kind, key, source, metadata)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"{where} is {value!r}: use one of {', '.join(map(str, args))}")
        return value
    if is_dataclass(kind):
        return _dataclass(value, kind, key, source)
    if origin is tuple:
        if not isinstance(value, list):
            raise ParamsError(f"{where} must be a list, got {value!r}")
        items = tuple(_value(v, args[0], f"{key}[{i}]", source, {}) for i, v in enumerate(value))
        names = metadata.get("names")
        wrong = [v for v in items if names is not None and v not in names]
        if wrong:
            raise ParamsError(f"{where} holds {wrong[0]!r}: use names of {', '.join(names)}")
        return items
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{where} must be a mapping, got {value!r}")
        return {str(k): _value(v, args[1], f"{key}.{k}", source, {}) for k, v in value.items()}
    return _scalar(value, kind, where, metadata)


def _scalar(value: Any, kind: type, where: str, metadata: Mapping) -> Any:
    # YAML reads 1 as an int where a float is meant; a bool is never a number.
    fits = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, fits = float(value), True
    if not fits:
        raise ParamsError(f"{where} must be {KIND_WORDS[kind]}, got {value!r}")
    low, high = metadata.get("range", (-math.inf, math.inf))
    if kind in (int, float) and not low <= value <= high:
        bounds = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ParamsError(f"{where} is {value!r}: it must be {bounds}")
    return value


def _dataclass(value: Any, kind: type, key: str, source: str) -> Any:
    where = f"{source}: {key}" if key else source
    if not isinstance(value, dict):
        raise ParamsError(f"{where} must be a mapping of {', '.join(f.name for f in fields(kind))}, got {value!r}")
    hints = typing.get_type_hints(kind)
    known = [f.name for f in fields(kind)]
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ParamsError(f"{source}: {_join(key, unknown[0])} is not a parameter: {key or 'the file'} has {', '.join(known)}")
    missing = [name for name in known if name not in value]
    if missing:
        raise ParamsError(f"{source}: {_join(key, missing[0])} is missing (see params.yaml of formset's repository for its meaning)")
    return kind(**{f.name: _value(value[f.name], hints[f.name], _join(key, f.name), source, f.metadata) for f in fields(kind)})


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


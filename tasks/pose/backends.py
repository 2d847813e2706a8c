"""The seam for video pose extraction: a backend turns one video into canonical keypoints.

Backends (MediaPipe by default, mmpose when the user brings a config and checkpoint) are
registered in ``BACKENDS`` by name; ``params.yaml: keypoints.pose_backend`` picks one, and
``none`` means videos are not processed (samples with only a video for a view are
quarantined by the keypoints stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from formset.schemas.series import KeypointSeries
from formset.tasks.readers.video import Frame

#: The backend name that turns video processing off.
NO_BACKEND = "none"


@runtime_checkable
class PoseBackend(Protocol):
    """Something that extracts the performer's keypoints from a video.

    Attributes
    ----------
    name
        The name it is registered under in ``BACKENDS``.
    """

    name: str

    def extract(self, video: Path, view: str, on_frame: Callable[[Frame], None] | None = None) -> KeypointSeries:
        """Keypoints of the performer in ``video``, one row per decoded frame.

        ``view`` is ``front``, ``diagonal`` or ``side``; ``time_s`` comes from the container's
        frame times and ``image_size`` is the displayed (rotation-corrected) size. Each frame
        the model sees is handed to ``on_frame`` as it is decoded (``tasks.readers.video.tap``), e.g.
        a ``tasks.readers.video.FrameSpool`` keeping it for the overlay. Bad input for this video
        raises ``formset.quarantine.SampleError``.
        """
        ...


def _mediapipe(params: dict) -> PoseBackend:
    from formset.tasks.pose.mediapipe_backend import MediaPipeBackend

    return MediaPipeBackend(params)


def _mmpose(params: dict) -> PoseBackend:
    from formset.tasks.pose.mmpose_backend import MmposeBackend

    return MmposeBackend(params)


#: Backend name -> factory building it from the backend's parameters. Factories import
#: their model library lazily, so choosing one backend never loads the other.
BACKENDS: dict[str, Callable[[dict], PoseBackend]] = {"mediapipe": _mediapipe, "mmpose": _mmpose}


def get_backend(name: str, params: dict) -> PoseBackend | None:
    """Build the pose backend called ``name``.

    Parameters
    ----------
    name
        ``none`` or a key of ``BACKENDS``.
    params
        The backend's settings, passed to its factory: the ``keypoints`` group of params.yaml
        as a mapping (``formset.params.plain``): a backend is a plug-in that reads the keys it
        knows (``video_stride``, ``mmpose_config`` ...) and checks them itself.

    Returns
    -------
    PoseBackend or None
        None for ``none``.

    Raises
    ------
    ValueError
        ``name`` is not a known backend; the message lists the choices.
    """
    if name == NO_BACKEND:
        return None
    if name not in BACKENDS:
        choices = ", ".join([NO_BACKEND, *BACKENDS])
        raise ValueError(f"unknown pose backend {name!r}; available: {choices}")
    return BACKENDS[name](params)

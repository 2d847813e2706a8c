"""Pose from video: the backend seam (``backends``) and the MediaPipe and mmpose backends."""

"""Readers of what annotators deliver: Kinect v2 CSVs, OpenPose JSON folders, videos."""

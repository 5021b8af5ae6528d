"""padim-edge: PaDiM anomaly detection, fitted in PyTorch, deployed as one ONNX graph or TensorRT engine."""

import os

__version__ = "0.1.0"

# FFmpeg's own log (partial files, undecodable packets) would print ahead of padim-edge's one-line reports.
# OpenCV reads this once, when its FFmpeg backend first opens a file in the process: set here, on the
# package's first import, so that a video written or read before the runtime is imported cannot come first.
# A user's own setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

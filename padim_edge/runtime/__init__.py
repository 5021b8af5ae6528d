"""Torch-free runtime: loads an exported model and scores BGR frames (numpy, OpenCV, onnxruntime/TensorRT)."""

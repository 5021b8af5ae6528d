"""Serving padim-edge models with NVIDIA Triton Inference Server: model repositories and `padim-edge serve`."""

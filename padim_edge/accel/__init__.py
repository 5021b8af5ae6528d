"""Torch-free access to NVIDIA accelerators, shared by the TensorRT builder (engine/) and the runtime:
importing TensorRT with a one-line error when it is missing, the machine facts an engine is tied to, and
the small CUDA binding (cuda-python or pycuda) that TensorRT's Python API leaves to its caller."""

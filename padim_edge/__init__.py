"""padim-edge: PaDiM anomaly detection, fitted in PyTorch, deployed as one ONNX graph or TensorRT engine."""

__version__ = "0.1.0"

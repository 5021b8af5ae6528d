"""Export a fitted run: one ONNX graph (torch + onnx), and TensorRT engines built from it."""

"""Export a fitted run to one ONNX graph (torch + onnx), and its int8-backbone variant. Engines are built from
that graph on the device, by `padim_edge.engine`."""

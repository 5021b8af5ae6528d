"""An exported ONNX model as a file: its graph and metadata (`onnx_io`), the digest binding the two
(`digest`), external data kept inside the model's folder (`external_data`), and the one checked read every
command and the runtime use (`read`). Needs `onnx`, never torch."""

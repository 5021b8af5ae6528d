"""The torch-free contract between fitting/export and the runtime.

Names of the graph's inputs, outputs and parts; the model config schema and the metadata every artifact
carries (with a format version, and a clear refusal of unknown versions); the TensorRT engine record;
the Triton wire format. Only the standard library, numpy and pydantic: `export/` and `runtime/` both import
this package and never each other. Reading the ONNX file itself is `model_file/`'s job.
"""

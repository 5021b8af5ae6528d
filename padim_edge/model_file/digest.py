"""The graph digest that binds a model's metadata to its graph (`ExportFacts.graph_sha256`)."""

from __future__ import annotations

import hashlib
import sys

import onnx
from onnx import numpy_helper


def graph_digest(model: onnx.ModelProto) -> str:
    """sha256 over what the graph computes: every node (op, inputs, outputs, attributes) and every
    initializer's name, type, shape and bytes. Metadata, producer and doc strings are left out, so the
    digest can be written into the model it describes. External tensors must be loaded first."""
    digest = hashlib.sha256()
    graph = model.graph
    for node in graph.node:
        copy = type(node)()
        copy.CopyFrom(node)
        copy.doc_string = ""
        digest.update(copy.SerializeToString(deterministic=True))
    for init in sorted(graph.initializer, key=lambda t: t.name):
        dtype, shape, data = _tensor_bytes(init)
        digest.update(f"{init.name}|{dtype}|{shape}".encode())
        digest.update(data)
    for value in [*graph.input, *graph.output]:
        digest.update(value.SerializeToString(deterministic=True))
    return digest.hexdigest()


#: Element types whose little-endian `raw_data` is exactly numpy's `tobytes()` of the tensor.
_RAW_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool"}


_RAW_TYPES |= {10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _tensor_bytes(tensor: onnx.TensorProto) -> tuple[str, tuple[int, ...], bytes | memoryview]:
    """(dtype name, shape, bytes) of an initializer as numpy would give them. `raw_data` is hashed in place
    where it equals numpy's bytes (no copy: a multi-GB model's digest costs one pass over its bytes)."""
    dtype = _RAW_TYPES.get(tensor.data_type)
    if dtype and tensor.HasField("raw_data") and sys.byteorder == "little":
        return dtype, tuple(tensor.dims), memoryview(tensor.raw_data)
    array = numpy_helper.to_array(tensor)
    return str(array.dtype), array.shape, array.tobytes()

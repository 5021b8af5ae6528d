"""Names shared by the exporter, the TensorRT builder and the runtime."""

INPUT = "frames"  # uint8 [N, H, W, 3], BGR, as OpenCV delivers frames
ANOMALY_MAP = "anomaly_map"  # float32 [N, 1, H, W]
SCORE = "score"  # float32 [N]
OUTPUTS = (ANOMALY_MAP, SCORE)
INPUT_LAYOUT = "NHWC uint8 BGR"

METADATA_KEY = "padim_edge"  # ONNX metadata_props key of the metadata JSON document

# Node-name prefixes of the graph's parts (the exporter names nodes after the PyTorch modules).
PREPROCESS, BACKBONE, EMBED, HEAD, POST = "/preprocess/", "/backbone/", "/embed/", "/head/", "/post/"
# Initializers holding the fitted statistics.
MEAN, FACTOR = "head.mean", "head.factor_t"

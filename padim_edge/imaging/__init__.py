"""Torch-free image handling shared by fitting, evaluation and the runtime: decoding with limits, the
geometry that places a frame of any size onto the model's input (and maps results back), pose
normalisation, and heatmap overlays. numpy and OpenCV only."""

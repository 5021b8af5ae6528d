"""Building TensorRT engines on the device that will run them: the builder and its int8 calibrator. Needs
TensorRT (and, for int8, the image reader), never torch; `accel/` holds what running an engine needs."""

"""int8 post-training calibration: good images in, TensorRT's entropy calibrator, a reusable cache out.

The batcher prepares images exactly as the runtime prepares camera frames (`read_image` and the model's
`Geometry`), so the activation ranges TensorRT measures are those it will see in production. The
calibration cache lets a rebuild (another workspace size, a new TensorRT build on the same version) skip
the images. The cache is keyed to tensor names, which every padim-edge export shares: delete it after
refitting or changing the backbone.

TensorRT 10 deprecates this implicit (calibrator-based) int8 in favour of explicit quantization: Q/DQ
nodes placed in the ONNX by NVIDIA's Model Optimizer (`modelopt.onnx.quantization`), which TensorRT then
honours as written. The calibrator path still works in TensorRT 10 and needs nothing but images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from padim_edge.accel.cuda_binding import CudaBinding
from padim_edge.errors import UserError
from padim_edge.imaging.decode import list_images, read_image
from padim_edge.imaging.geometry import Geometry
from padim_edge.storage.atomic import atomic_write


class ImageBatcher:
    """The images directly in `folder`, sorted, as uint8 BGR NHWC batches of exactly `batch_size`.

    Calibration runs one fixed shape, so a last partial batch is dropped.
    """

    def __init__(self, folder: Path, geometry: Geometry, batch_size: int) -> None:
        if not folder.is_dir():
            raise UserError(f"--calib {folder}: no such folder")
        files = list_images(folder)
        if len(files) < batch_size:
            raise UserError(f"--calib {folder}: {len(files)} images, fewer than one batch of {batch_size}")
        self.files = files[: len(files) // batch_size * batch_size]
        self.geometry, self.batch_size = geometry, batch_size

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch_size, self.geometry.height, self.geometry.width, 3)

    def __len__(self) -> int:
        return len(self.files) // self.batch_size

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.files), self.batch_size):
            chunk = self.files[start : start + self.batch_size]
            yield np.stack([self.geometry.prepare(read_image(path))[0] for path in chunk])


def entropy_calibrator(trt: ModuleType, batcher: ImageBatcher | None, cache: Path | None, cuda: CudaBinding) -> Any:
    """A `trt.IInt8EntropyCalibrator2` over `batcher`; with `batcher` None it can only replay `cache`.

    The class is defined here, not at import, because its base class comes from the optional tensorrt.
    """

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()  # pybind11 needs the base initialised for TensorRT to call back into Python
            self.batches = iter(batcher) if batcher else iter(())
            if batcher:
                self.staging = cuda.pinned(batcher.shape, np.uint8)
                self.device = cuda.malloc(self.staging.nbytes)
                self.stream = cuda.stream()

        def get_batch_size(self) -> int:
            return batcher.batch_size if batcher else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(self.batches, None)
            if batch is None:
                return None  # tells TensorRT the calibration set is exhausted
            self.staging[...] = batch
            cuda.h2d(self.device, self.staging, self.stream)
            cuda.sync(self.stream)
            return [self.device]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache and cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            if cache:
                atomic_write(cache, bytes(data))

    return EntropyCalibrator()

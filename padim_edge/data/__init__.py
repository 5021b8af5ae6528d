"""Datasets (MVTec AD, a plain folder layout, ELPV) as sample lists, and batched decoding (numpy + OpenCV)."""

from padim_edge.data.batches import Batch, evenly_spaced, frame_sizes, iter_batches
from padim_edge.data.registry import data_root, load_dataset, load_run_dataset
from padim_edge.data.samples import DatasetSplit, Sample

__all__ = [
    "Batch",
    "DatasetSplit",
    "Sample",
    "data_root",
    "evenly_spaced",
    "frame_sizes",
    "iter_batches",
    "load_dataset",
    "load_run_dataset",
]

"""Datasets (MVTec AD, a plain folder layout, ELPV) as sample lists, and batched decoding (numpy + OpenCV)."""

from padim_edge.data.batches import Batch, iter_batches
from padim_edge.data.registry import load_dataset
from padim_edge.data.samples import DatasetSplit, Sample

__all__ = ["Batch", "DatasetSplit", "Sample", "iter_batches", "load_dataset"]

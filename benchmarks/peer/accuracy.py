"""Accuracy of anomalib's PaDiM (EfficientNet-Lite0, packaged ImageNet weights, d=100) on padim-edge's datasets.

Run with the peer venv's python:
    PY=$(bash benchmarks/peer/venv.sh) && "$PY" benchmarks/peer/accuracy.py benchmarks/results/peer_accuracy.json

The anomalib model is driven directly, as its Lightning hooks would drive it, without the Engine's data
splitting (which would move half of the test set into validation):
- images are read with anomalib's `read_image` (PIL, RGB, float in [0, 1]) at their original size;
- anomalib's default pre-processor transform (`model.pre_processor.transform`: Resize to 256x256 with
  antialiasing, stretching non-square frames, then ImageNet Normalize) is applied to each batch, as
  `PreProcessor.on_*_batch_start` does;
- training: PadimModel's embeddings (`generate_embedding` of the backbone features) go to its memory bank,
  then `model.model.fit()` (anomalib's MultiVariateGaussian);
- test: PadimModel's anomaly map (Mahalanobis distance, bilinear upsample to the 256x256 input, Gaussian
  blur sigma 4) and image score (the map's maximum);
- the seeds are run in lockstep on shared backbone features (see `evaluate`; checked against
  `PadimModel.forward` on the first test batch).
The 256x256 map is then resized bilinearly (anomalib's own `AnomalyMapGenerator.up_sample`) back to the
original frame and compared with the original-resolution mask: image AUROC, pixel AUROC and PRO (FPR <= 0.3)
with padim-edge's metric code (padim_edge/metrics.py of this branch, imported by file path). The scores and
maps are the raw ones: anomalib's PostProcessor min-max normalisation is monotonic but clamps to [0, 1]
with statistics taken from a validation split, which would only add ties.

Datasets: MVTec AD screw, bottle, tire (MVTEC_ROOT/<category>, read in place) and ELPV mono with
padim-edge's split (padim_edge/data/elpv.py). Seeds set anomalib's random channel selection
(lightning's seed_everything before the model is built); different seeds give different indices.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anomalib_lite0  # noqa: E402

REPO = anomalib_lite0.REPO
DEFAULT_MVTEC = REPO.parent / "shared" / "data" / "mvtec"
DATASETS = ("screw", "bottle", "tire", "elpv-mono")
METRICS = ("image_auroc", "pixel_auroc", "pro")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
# padim-edge's ELPV split (padim_edge/data/elpv.py).
ELPV_TEST_GOOD_FRACTION = 0.25
ELPV_SEED = 0


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    mask_path: Path | None = None


def list_images(folder: Path) -> list[Path]:
    """As padim-edge's list_images: image files by extension, hidden ones skipped, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def mvtec_split(folder: Path) -> tuple[list[Path], list[Sample]]:
    """train/good, and test/<type>/ (good = 0) with ground_truth/<type>/<stem>_mask.png, as padim-edge scans them."""
    train = list_images(folder / "train" / "good")
    test = []
    for type_dir in sorted(p for p in (folder / "test").iterdir() if p.is_dir()):
        for path in list_images(type_dir):
            if type_dir.name == "good":
                test.append(Sample(path, 0))
            else:
                mask = folder / "ground_truth" / type_dir.name / f"{path.stem}_mask.png"
                test.append(Sample(path, 1, mask if mask.is_file() else None))
    return train, test


def elpv_split(category: str) -> tuple[list[Path], list[Sample]]:
    """padim-edge's ELPV split: goods (p = 0) shuffled by default_rng(0), 25% to test; defects (p > 0.5) to test."""
    import importlib.util

    spec = importlib.util.find_spec("elpv_dataset")
    labels = Path(next(iter(spec.submodule_search_locations))) / "data" / "labels.csv"
    rows = []
    for line in labels.read_text().splitlines():
        if line.strip():
            name, probability, cell_type = line.split()
            if cell_type == category:
                rows.append((labels.parent / name, float(probability)))
    goods = [p for p, prob in rows if prob == 0.0]
    defects = [p for p, prob in rows if prob > 0.5]
    order = np.random.default_rng(ELPV_SEED).permutation(len(goods))
    n_test = round(ELPV_TEST_GOOD_FRACTION * len(goods))
    train = sorted(goods[i] for i in order[n_test:])
    test = sorted([Sample(goods[i], 0) for i in order[:n_test]] + [Sample(p, 1) for p in defects], key=lambda s: s.path)
    return train, test


def load_split(name: str, mvtec_root: Path) -> tuple[list[Path], list[Sample]]:
    if name.startswith("elpv-"):
        return elpv_split(name.split("-", 1)[1])
    return mvtec_split(mvtec_root / name)


def read_batch(paths: list[Path]) -> torch.Tensor:
    """anomalib's read_image for each path, stacked: float RGB [B, 3, H, W] in [0, 1] (one size per dataset)."""
    from anomalib.data.utils import read_image

    return torch.stack([read_image(p, as_tensor=True) for p in paths])


def read_mask(sample: Sample, shape: tuple[int, int]) -> np.ndarray:
    """Ground truth at the original resolution (padim-edge's read_mask: > 0); all False for goods."""
    if sample.mask_path is None:
        return np.zeros(shape, dtype=bool)
    mask = cv2.imread(str(sample.mask_path), cv2.IMREAD_GRAYSCALE)
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask > 0


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def lite0_pre_processor():
    """anomalib's default pre-processor with the Lite0 weights' own normalisation (mean = std = 0.5)."""
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Compose, Normalize, Resize

    return PreProcessor(transform=Compose([Resize((256, 256), antialias=True), Normalize([0.5] * 3, [0.5] * 3)]))


def evaluate(
    seeds: list[int], train: list[Path], test: list[Sample], batch: int, metrics_module, normalisation: str
) -> tuple[dict, dict]:
    """Fit one anomalib PaDiM per seed on `train` and score `test` on the whole original frames.

    The seeds' models differ only in their random channel selection, so each batch is decoded,
    pre-processed and passed through the (identical) backbone once, and each model then runs the rest of
    `PadimModel.forward` on those features: `generate_embedding`, then the memory bank (train) or
    `anomaly_map_generator` and the map's maximum (test). The first test batch is also run through every
    model's own `forward` and must give the same maps and scores.
    """
    from anomalib.models.image.padim.anomaly_map import AnomalyMapGenerator
    from lightning import seed_everything

    models = {}
    for seed in seeds:
        seed_everything(seed, verbose=False)
        extra = {"pre_processor": lite0_pre_processor()} if normalisation == "lite0" else {}
        models[seed] = anomalib_lite0.lite0_padim(**extra)
    first = models[seeds[0]]
    transform = first.pre_processor.transform
    extractor = first.model.feature_extractor
    timing = {"fit_s": 0.0, "test_s": 0.0}

    start = time.perf_counter()
    for model in models.values():
        model.model.train()
    for chunk in batches(train, batch):
        features = extractor(transform(read_batch(chunk)))
        for model in models.values():
            model.model.memory_bank.append(model.model.generate_embedding(features))
    for model in models.values():
        model.model.fit()
    timing["fit_s"] = time.perf_counter() - start

    start = time.perf_counter()
    scores = {seed: [] for seed in seeds}
    maps = {seed: [] for seed in seeds}
    masks = []
    for model in models.values():
        model.model.eval()
    for index, chunk in enumerate(batches(test, batch)):
        images = read_batch([s.path for s in chunk])
        frame = tuple(images.shape[-2:])
        x = transform(images)
        with torch.no_grad():
            features = extractor(x)
            for seed, model in models.items():
                padim = model.model
                anomaly_map = padim.anomaly_map_generator(
                    embedding=padim.generate_embedding(features),
                    mean=padim.gaussian.mean,
                    inv_covariance=padim.gaussian.inv_covariance,
                    image_size=x.shape[-2:],
                )
                pred_score = torch.amax(anomaly_map, dim=(-2, -1))
                if index == 0:  # the shared-feature path is anomalib's forward
                    own = padim(x)
                    if not (torch.equal(own.anomaly_map, anomaly_map) and torch.equal(own.pred_score, pred_score)):
                        raise RuntimeError("shared-feature path differs from PadimModel.forward")
                full = AnomalyMapGenerator.up_sample(anomaly_map, frame)
                scores[seed].append(pred_score.reshape(-1).numpy())
                maps[seed].append(full[:, 0].numpy())
        masks.extend(read_mask(s, frame) for s in chunk)
    timing["test_s"] = time.perf_counter() - start
    masks = np.stack(masks)
    labels = np.array([s.label for s in test])

    per_seed = {}
    for seed, model in models.items():
        start = time.perf_counter()
        seed_maps = np.concatenate(maps.pop(seed))
        result = metrics_module.compute_metrics(labels, np.concatenate(scores[seed]), masks, seed_maps)
        idx = model.model.idx
        result.update(
            {
                "frame_hw": list(seed_maps.shape[-2:]),
                "model_input_hw": list(x.shape[-2:]),
                "n_train": len(train),
                "channel_idx_first10": idx[:10].tolist(),
                "channel_idx_sha1": hashlib.sha1(idx.numpy().astype("<i8").tobytes()).hexdigest()[:12],
                "metrics_s": round(time.perf_counter() - start, 1),
            }
        )
        del seed_maps
        per_seed[str(seed)] = result
    return per_seed, {k: round(v, 1) for k, v in timing.items()}


def summarise(per_seed: dict[str, dict]) -> dict:
    """Mean and sample standard deviation (ddof 1) of each metric over the seeds."""
    out = {}
    for key in METRICS:
        values = [r[key] for r in per_seed.values() if r[key] is not None]
        if values:
            out[key] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="results JSON to write")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--mvtec-root", type=Path, default=DEFAULT_MVTEC, help=f"default {DEFAULT_MVTEC}")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--normalisation",
        choices=("anomalib", "lite0"),
        default="anomalib",
        help="anomalib: its default ImageNet mean/std (default); lite0: mean = std = 0.5, as the weights were trained",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import anomalib
    import sklearn
    import timm

    metrics_module = anomalib_lite0.load_module(REPO / "padim_edge" / "metrics.py", "padim_edge_metrics")
    results = {
        "what": "anomalib PaDiM, tf_efficientnet_lite0 with the packaged ImageNet weights, evaluated on whole frames",
        "config": {
            "backbone": anomalib_lite0.BACKBONE,
            "weights": f"pip package {anomalib_lite0.WEIGHTS_PACKAGE}, mapped by order onto timm's names",
            "layers": list(anomalib_lite0.LAYERS),
            "n_features_d": anomalib_lite0.N_FEATURES,
            "pre_processing": "Resize(256, 256, antialias=True) + Normalize("
            + (
                "mean = std = 0.5, the Lite0 weights' own)"
                if args.normalisation == "lite0"
                else "ImageNet, anomalib's default)"
            ),
            "anomaly_map": "anomalib PadimModel: Mahalanobis, bilinear to 256x256, Gaussian blur sigma 4",
            "scores": "raw (PostProcessor normalisation not applied); image score = max of the 256x256 map",
            "evaluation": "map resized bilinearly to the original frame, original-resolution masks",
            "metrics": "padim_edge/metrics.py compute_metrics (PRO integrated to FPR 0.3, normalised)",
            "seeds": args.seeds,
            "std": "sample standard deviation over seeds (ddof 1)",
            "mvtec_root": str(args.mvtec_root),
        },
        "versions": {
            "anomalib": anomalib.__version__,
            "torch": torch.__version__,
            "timm": timm.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
        },
        "datasets": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        train, test = load_split(name, args.mvtec_root)
        per_seed, timing = evaluate(args.seeds, train, test, args.batch, metrics_module, args.normalisation)
        for seed, result in per_seed.items():
            shown = {k: result[k] for k in (*METRICS, "n_images", "channel_idx_first10")}
            print(name, "seed", seed, json.dumps(shown), flush=True)
        idx = {r["channel_idx_sha1"] for r in per_seed.values()}
        results["datasets"][name] = {
            "per_seed": per_seed,
            "summary": summarise(per_seed),
            "seeds_give_distinct_channel_idx": len(idx) == len(per_seed),
            "timing_all_seeds": timing,
        }
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v["summary"] for k, v in results["datasets"].items()}, indent=2))


if __name__ == "__main__":
    main()

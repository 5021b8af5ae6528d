"""ONNX exports of anomalib's PaDiM made by anomalib itself (`Engine.export(model, ExportType.ONNX)`).

Run with the peer venv's python:  PY=$(bash benchmarks/peer/venv.sh) && "$PY" benchmarks/peer/export_anomalib.py

Two models, each fitted with `Engine.fit` on a handful of MVTec screw images (symbolic links in a temporary
folder; the data is read in place) so that the Gaussian statistics and the post-processor's thresholds exist,
then exported at 256x256 with anomalib's own pre-processing (Resize + ImageNet Normalize) and
post-processing (score/map normalisation and thresholds) inside the graph:

- `padim_resnet18`: `Padim(backbone="resnet18", pre_trained=False)`: random weights, anomalib's defaults
  (layer1-3, d=100);
- `padim_lite0`: `Padim(backbone="tf_efficientnet_lite0", layers=["blocks.1", "blocks.2", "blocks.4"],
  n_features=100, pre_trained=False)` with the packaged Lite0 ImageNet weights loaded (anomalib_lite0.py).

Writes OUT/<name>/weights/onnx/<name>.onnx (anomalib's layout; torch's exporter puts the weights and
statistics in <name>.onnx.data beside it) and OUT/<name>.json describing how it was made, its inputs and
outputs, and one onnxruntime CPU run against anomalib's eager forward.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anomalib_lite0  # noqa: E402

REPO = anomalib_lite0.REPO
DEFAULT_OUT = REPO / "benchmarks" / "results" / "cache" / "peer"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mvtec" / "screw"
INPUT_SIZE = (256, 256)


def handful(data: Path, root: Path, n_train: int, n_test: int) -> dict:
    """Symbolic links to a few images of an MVTec AD category, laid out for anomalib's Folder datamodule."""
    picked = {"normal": sorted((data / "train" / "good").glob("*.png"))[:n_train]}
    picked["normal_test"] = sorted((data / "test" / "good").glob("*.png"))[:n_test]
    defect_dirs = sorted(p for p in (data / "test").iterdir() if p.is_dir() and p.name != "good")
    picked["abnormal"] = [sorted(d.glob("*.png"))[0] for d in defect_dirs][:n_test]
    for folder, files in picked.items():
        (root / folder).mkdir(parents=True)
        for path in files:
            name = path.name if folder == "normal" else f"{path.parent.name}_{path.name}"
            (root / folder / name).symlink_to(path)
    (root / "mask").mkdir()
    for path in picked["abnormal"]:
        mask = data / "ground_truth" / path.parent.name / f"{path.stem}_mask.png"
        (root / "mask" / f"{path.parent.name}_{path.stem}_mask.png").symlink_to(mask)
    return {k: [str(p.relative_to(data)) for p in v] for k, v in picked.items()}


def sha256(path: Path) -> str:
    """padim_edge.storage.atomic.sha256_file's twin: this script runs in anomalib's venv, without padim-edge."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_onnx(path: Path) -> dict:
    """Opsets, inputs and outputs (name, dtype, shape) of an ONNX file, and its files' sizes."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)

    def value_info(v) -> dict:
        dims = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        return {"name": v.name, "dtype": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type), "shape": dims}

    files = {p.name: p.stat().st_size for p in sorted(path.parent.iterdir()) if p.is_file()}
    return {
        "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}",
        "inputs": [value_info(v) for v in proto.graph.input],
        "outputs": [value_info(v) for v in proto.graph.output],
        "nodes": len(proto.graph.node),
        "files": files,
        "sha256": sha256(path),
    }


def run_onnxruntime(path: Path, model, image: torch.Tensor) -> dict:
    """One onnxruntime CPU call on a real 256x256 image, against anomalib's eager forward on the same input."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: image.numpy()}
    start = time.perf_counter()
    outputs = session.run(None, feed)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        eager = model.eval()(image)._asdict()
    result = {"providers": session.get_providers(), "first_call_s": round(seconds, 3), "outputs": {}}
    for meta, value in zip(session.get_outputs(), outputs, strict=True):
        entry = {"shape": list(value.shape), "dtype": str(value.dtype)}
        ref = eager.get(meta.name)
        if ref is not None:
            ref = ref.numpy()
            if value.dtype == np.bool_ or ref.dtype == np.bool_:
                entry["equal_to_torch_fraction"] = float(np.mean(value == ref))
            else:
                entry["max_abs_diff_vs_torch"] = float(np.abs(value - ref).max())
        result["outputs"][meta.name] = entry
    return result


def build(name: str):
    from anomalib.models import Padim

    if name == "padim_resnet18":
        return Padim(backbone="resnet18", pre_trained=False), {
            "backbone": "resnet18 (timm)",
            "weights": "random (pre_trained=False)",
            "layers": ["layer1", "layer2", "layer3"],
        }
    return anomalib_lite0.lite0_padim(), {
        "backbone": f"{anomalib_lite0.BACKBONE} (timm)",
        "weights": f"ImageNet, pip package {anomalib_lite0.WEIGHTS_PACKAGE}, mapped by order onto timm's names",
        "layers": list(anomalib_lite0.LAYERS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an MVTec AD category (read in place)")
    parser.add_argument("--n-train", type=int, default=8, help="training images of the handful fit")
    parser.add_argument("--n-test", type=int, default=4, help="good and defective test images (validation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["padim_resnet18", "padim_lite0"])
    args = parser.parse_args()

    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("anomalib").setLevel(logging.WARNING)
    import anomalib
    import onnx
    import onnxruntime
    import timm
    from anomalib.data import Folder
    from anomalib.data.utils import read_image
    from anomalib.deploy import ExportType
    from anomalib.engine import Engine
    from lightning import seed_everything

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peer-export-") as tmp:
        tmp = Path(tmp)
        picked = handful(args.data, tmp / "data", args.n_train, args.n_test)
        probe_path = args.data / picked["abnormal"][0]  # a defective image for the onnxruntime check
        for name in args.models:
            seed_everything(args.seed)
            model, how = build(name)
            datamodule = Folder(
                name=f"{args.data.name}-handful",
                root=tmp / "data",
                normal_dir="normal",
                abnormal_dir="abnormal",
                normal_test_dir="normal_test",
                mask_dir="mask",
                train_batch_size=8,
                eval_batch_size=8,
                num_workers=0,
                seed=args.seed,
            )
            engine = Engine(
                accelerator="cpu",
                devices=1,
                logger=False,
                default_root_dir=tmp / "engine" / name,
                enable_progress_bar=False,
            )
            start = time.perf_counter()
            engine.fit(model=model, datamodule=datamodule)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            final = engine.export(
                model, ExportType.ONNX, export_root=args.out / name, model_file_name=name, input_size=INPUT_SIZE
            )
            export_s = time.perf_counter() - start
            final = Path(final)
            image = read_image(probe_path, as_tensor=True)[None]
            image = torch.nn.functional.interpolate(image, size=INPUT_SIZE, mode="bilinear", align_corners=False)
            post = model.post_processor
            record = {
                "model": name,
                "onnx": str(final.relative_to(REPO) if final.is_relative_to(REPO) else final),
                "made_by": "anomalib Engine.fit then Engine.export(model, ExportType.ONNX, input_size=(256, 256))",
                **how,
                "n_features_d": int(model.model.n_features),
                "n_features_original": int(model.model.n_features_original),
                "channel_idx_seed": args.seed,
                "channel_idx_first10": model.model.idx[:10].tolist(),
                "input_size_hw": list(INPUT_SIZE),
                "input": "float32 RGB in [0, 1], NCHW; the graph resizes to 256x256 and normalises itself",
                "pre_processing_in_graph": str(model.pre_processor.export_transform).replace("\n", " "),
                "post_processing_in_graph": {
                    "anomaly_map": "bilinear upsample to input size + Gaussian blur sigma 4 (AnomalyMapGenerator)",
                    "normalisation": "PostProcessor: ((x - threshold) / (max - min) + 0.5).clamp(0, 1)",
                    "image_threshold": float(post.image_threshold),
                    "pixel_threshold": float(post.pixel_threshold),
                    "image_min_max": [float(post.image_min), float(post.image_max)],
                    "pixel_min_max": [float(post.pixel_min), float(post.pixel_max)],
                },
                "fit_images": picked,
                "fit_data_root": str(args.data),
                "fit_s": round(fit_s, 1),
                "export_s": round(export_s, 1),
                "onnx_file": describe_onnx(final),
                "onnxruntime_cpu": run_onnxruntime(final, model, image),
                "versions": {
                    "anomalib": anomalib.__version__,
                    "torch": torch.__version__,
                    "timm": timm.__version__,
                    "onnx": onnx.__version__,
                    "onnxruntime": onnxruntime.__version__,
                    "python": platform.python_version(),
                },
            }
            if name == "padim_lite0":
                reference = read_image(args.data / picked["normal"][0], as_tensor=True)
                record["weights_check"] = anomalib_lite0.check_weights(model, reference)
            (args.out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
            print(json.dumps({k: record[k] for k in ("onnx", "onnx_file", "onnxruntime_cpu")}, indent=2))


if __name__ == "__main__":
    main()

"""anomalib's own ONNX exports of PaDiM (issue 13's baselines), picked up when present.

They are made on their own branch by `benchmarks/peer/export_anomalib.py` with the real anomalib in a separate
venv: `PADIM_NAME/**/PADIM_NAME.onnx` and `PADIM_NAME.json` (how it was made) in one folder. Their input is
read from each graph (name, dtype, shape); anomalib's export takes float RGB [N, 3, H, W] in [0, 1] and
resizes and normalises inside the graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx

# Export name -> role in the report (issue 13's two ratios).
ROLES = {
    "padim_resnet18": "anomalib R18 export",
    "padim_lite0": "anomalib same-backbone (Lite0) export",
}
HOW_TO_BUILD = (
    'build them on the peer branch with `PY=$(bash benchmarks/peer/venv.sh) && "$PY" '
    "benchmarks/peer/export_anomalib.py` (a separate ~6 GB venv with anomalib 2.7 from the registry, created "
    "on demand, never in CI), then run `make bench` again (or pass `--peer DIR`)"
)


@dataclass(frozen=True)
class PeerModel:
    """One anomalib export and the input its graph declares."""

    name: str
    role: str
    onnx: Path
    record: dict
    input_name: str
    input_dtype: str
    input_shape: tuple[int | str | None, ...]

    @property
    def input_hw(self) -> tuple[int, int]:
        height, width = self.input_shape[2], self.input_shape[3]
        if not (isinstance(height, int) and isinstance(width, int)):
            raise ValueError(f"{self.onnx}: input {self.input_shape} has no fixed H x W")
        return height, width

    def batches(self, wanted: tuple[int, ...]) -> tuple[int, ...]:
        """The wanted batch sizes the graph accepts (a fixed batch dimension accepts only itself)."""
        fixed = self.input_shape[0]
        return tuple(b for b in wanted if not isinstance(fixed, int) or b == fixed)

    def check(self) -> str | None:
        """Why this export cannot be fed float RGB [N, 3, H, W] images (None when it can)."""
        if self.input_dtype != "FLOAT" or len(self.input_shape) != 4 or self.input_shape[1] != 3:
            return f"input {self.input_name} {self.input_dtype} {list(self.input_shape)} is not float [N, 3, H, W]"
        try:
            self.input_hw  # noqa: B018 - raises when H x W are symbolic
        except ValueError as exc:
            return str(exc)
        return None


def find(folder: Path) -> list[PeerModel]:
    """The known exports in `folder`, each with the JSON record written beside it."""
    found = []
    for name, role in ROLES.items():
        record_path = folder / f"{name}.json"
        graphs = sorted(folder.glob(f"{name}/**/{name}.onnx"))
        if not record_path.is_file() or not graphs:
            continue
        found.append(_describe(name, role, graphs[0], json.loads(record_path.read_text())))
    return found


def summary(folder: Path, wanted: tuple[int, ...]) -> dict:
    """What was found in `folder` (each export's input, batch sizes, how it was made), what is missing, and how
    to build it: the report's `peer` section."""
    found = {}
    for export in find(folder):
        found[export.role] = {
            "onnx": str(export.onnx),
            "input": {"name": export.input_name, "dtype": export.input_dtype, "shape": list(export.input_shape)},
            "problem": export.check(),
            "batches": list(export.batches(wanted)),
            "record": {k: export.record.get(k) for k in ("made_by", "backbone", "weights", "n_features_d", "versions")},
        }
    missing = [role for role in ROLES.values() if role not in found]
    return {"folder": str(folder), "found": found, "missing": missing, "how_to_build": HOW_TO_BUILD}


def _describe(name: str, role: str, path: Path, record: dict) -> PeerModel:
    model = onnx.load(str(path), load_external_data=False)
    weights = {i.name for i in model.graph.initializer}
    first = next(v for v in model.graph.input if v.name not in weights)
    tensor = first.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)
    dtype = onnx.TensorProto.DataType.Name(tensor.elem_type)
    return PeerModel(name, role, path, record, first.name, dtype, dims)

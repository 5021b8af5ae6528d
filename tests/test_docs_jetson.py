"""docs/jetson.md's JetPack table agrees with what the code checks (TensorRT >= MIN_TENSORRT for `build` and
engines, the Python that pyproject.toml requires), and no other text claims a module the table rules out."""

from __future__ import annotations

import re
from pathlib import Path

from padim_edge.accel.tensorrt import MIN_TENSORRT

ROOT = Path(__file__).resolve().parents[1]


def _rows() -> list[dict[str, str]]:
    lines = [line for line in (ROOT / "docs" / "jetson.md").read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:7]]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"[\d.]+", text).group(0).rstrip(".").split(".") if part.isdigit())


def test_the_jetpack_table_follows_the_checks():
    required = re.search(r'^requires-python = ">=([\d.]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    min_python = _version(required.group(1))
    rows = _rows()
    assert [row["JetPack"] for row in rows][:3] == ["4.6.x", "5.1.x", "6.0"]
    for row in rows:
        python_ok = _version(row["Python (Ubuntu)"]) >= min_python
        tensorrt_ok = row["TensorRT"].startswith("10.") or _version(row["TensorRT"])[0] >= MIN_TENSORRT
        verdict = row["padim-edge"]
        if not python_ok:
            assert verdict.startswith("no"), row
        elif not tensorrt_ok:
            assert verdict.startswith("onnxruntime only"), row
        else:
            assert verdict.startswith("yes"), row
    supported = {m.strip() for row in rows if row["padim-edge"].startswith("yes") for m in row["Modules"].split(",")}
    assert "Xavier" not in supported


def test_nothing_else_claims_xavier():
    texts = [ROOT / "README.md", *sorted((ROOT / "padim_edge").rglob("*.py"))]
    for path in texts:
        for line in path.read_text().splitlines():
            if "Xavier" in line:
                assert re.search(r"not Xavier|Xavier's last JetPack lacks|Xavier modules stop", line), (path, line)

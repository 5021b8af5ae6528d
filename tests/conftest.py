"""Shared fixtures, all on real images.

Generic tests use the ELPV package's solar cells (installed with the project, so a fresh clone runs them):
two real cells side by side make a 600x300 frame, so the model they fit is not square. Tests tied to the
MVTec AD copies in ../shared/data/mvtec skip with a reason where those are absent (and fail where
PADIM_EDGE_REQUIRE_MVTEC is set, as in CI, so the quality floors never skip there unnoticed).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from data_paths import mvtec_candidates
from pairs import CELLS_INPUT, side_by_side, write_png

#: Set (CI does, in .ci/run) to fail instead of skipping where the MVTec AD copy is not found.
REQUIRE_MVTEC = "PADIM_EDGE_REQUIRE_MVTEC"


@pytest.fixture(scope="session")
def mvtec_root() -> Path:
    """The real MVTec AD data beside the repository; skips the test when absent (fails under CI)."""
    candidates = mvtec_candidates(Path(__file__).absolute().parent.parent, dict(os.environ))
    found = next((path for path in candidates if path.is_dir()), None)
    if found is None:
        message = f"dataset-specific test: MVTec AD data not found at {', '.join(map(str, candidates[:3]))}, ..."
        if os.environ.get(REQUIRE_MVTEC):
            pytest.fail(f"{message} ({REQUIRE_MVTEC} is set: set PADIM_EDGE_MVTEC to its folder)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def cells_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `folder`-layout dataset `cells` of real ELPV mono cells in pairs (600x300 frames): 32 training
    pairs of good cells; a test set of 10 good pairs and 10 pairs with one defective cell, left or right."""
    from padim_edge.data import load_dataset

    split = load_dataset("elpv", None, "mono")
    goods = [s.path for s in split.train]
    test_goods = [s.path for s in split.test if s.label == 0]
    defects = [s.path for s in split.test if s.label == 1]
    root = tmp_path_factory.mktemp("cells")
    for i in range(32):
        write_png(root / "cells" / "good" / f"{i:03d}.png", side_by_side(goods[2 * i], goods[2 * i + 1]))
    for i in range(10):
        write_png(root / "cells" / "test" / "good" / f"{i:03d}.png", side_by_side(test_goods[i], test_goods[i + 10]))
        pair = (defects[i], test_goods[20 + i]) if i % 2 else (test_goods[20 + i], defects[i])
        write_png(root / "cells" / "test" / "defect" / f"{i:03d}.png", side_by_side(*pair))
    return root


@pytest.fixture(scope="session")
def cells_run(tmp_path_factory: pytest.TempPathFactory, cells_root: Path) -> Path:
    """Lite0 (packaged ImageNet weights) fitted on the cell pairs: a 128x256 model."""
    from padim_edge.data import load_dataset
    from padim_edge.fit import FitOptions, fit

    out = tmp_path_factory.mktemp("runs") / "cells"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells test set has no pixel masks, by design
        split = load_dataset("folder", cells_root, "cells")
    fit(split, out, FitOptions(input_size=CELLS_INPUT, show_progress=False), cells_root)
    return out


@pytest.fixture(scope="session")
def cells_model(cells_run: Path) -> Path:
    """The cells run exported to ONNX (float32 statistics)."""
    from padim_edge.export.onnx_graph import export_run

    return export_run(cells_run).path


@pytest.fixture(scope="session")
def cell_frames(cells_root: Path) -> list[Path]:
    """The cells test frames, good ones first."""
    return sorted((cells_root / "cells" / "test").glob("*/*.png"), key=lambda p: (p.parent.name != "good", p.name))


@pytest.fixture(scope="session")
def cell_jpegs(cell_frames: list[Path]) -> list[bytes]:
    """The cells test frames as JPEG, good ones first: what a loopback MJPEG camera (servers.py) sends."""
    import cv2

    return [cv2.imencode(".jpg", cv2.imread(str(p)))[1].tobytes() for p in cell_frames]


@pytest.fixture(scope="session")
def median_threshold(cells_model: Path, cell_frames: list[Path]) -> float:
    """The median score of the cells test frames: as a --threshold, about half of them are NG."""
    import cv2
    import numpy as np

    from padim_edge.runtime.backends import open_backend
    from padim_edge.runtime.predictor import Predictor

    predictor = Predictor(open_backend(cells_model, spinning=False))
    batch = np.stack([predictor.prepare(cv2.imread(str(p)))[0] for p in cell_frames])
    return float(np.median(predictor.infer(batch)[1]))

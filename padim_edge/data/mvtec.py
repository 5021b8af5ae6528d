"""MVTec AD layout: <root>/<category>/train/good, test/<type>/, ground_truth/<type>/<stem>_mask.png.

Test type `good` is label 0, every other type label 1. A missing test folder gives an empty test set;
a defective image without its mask gets mask_path None (one warning per load).
"""

from __future__ import annotations

from pathlib import Path

from padim_edge.data.samples import DatasetSplit, category_dir, scan_test, train_goods


def load_mvtec(root: Path | None, category: str) -> DatasetSplit:
    """Scan one MVTec AD category; raises UserError for a missing root, category or train/good."""
    folder = category_dir(root, category, "mvtec")
    ground_truth = folder / "ground_truth"

    def mask_for(defect_type: str, image: Path) -> Path | None:
        mask = ground_truth / defect_type / f"{image.stem}_mask.png"
        return mask if mask.is_file() else None

    train = train_goods(folder / "train" / "good")
    test = scan_test(folder / "test", mask_for)
    return DatasetSplit("mvtec", folder.resolve().name, train, test)

"""Plain folder layout, for your own images (`--data-root ROOT --category NAME`):

    ROOT/NAME/good/*.png                  training images, all good (at least 2)
    ROOT/NAME/test/<type>/*.png           optional test set; type `good` is label 0, any other label 1
    ROOT/NAME/masks/<type>/<stem>.png     optional defect masks (also <stem>_mask.png), white = defect

Images may be png, jpg, jpeg, bmp, tif or tiff; files are taken in sorted order. With NAME "" or "."
ROOT itself holds good/, test/ and masks/. A defective image without a mask gets mask_path None.
"""

from __future__ import annotations

from pathlib import Path

from padim_edge.data.samples import DatasetSplit, category_dir, scan_test, train_goods


def load_folder(root: Path | None, category: str) -> DatasetSplit:
    """Scan the plain layout above; raises UserError for a missing root, category or good/ folder."""
    folder = category_dir(root, category, "folder")
    masks = folder / "masks"

    def mask_for(defect_type: str, image: Path) -> Path | None:
        for name in (f"{image.stem}.png", f"{image.stem}_mask.png"):
            if (masks / defect_type / name).is_file():
                return masks / defect_type / name
        return None

    train = train_goods(folder / "good")
    test = scan_test(folder / "test", mask_for)
    return DatasetSplit("folder", folder.resolve().name, train, test)

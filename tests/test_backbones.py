"""Backbones defined in the project: torchvision checkpoints load unchanged, Lite0 loads its packaged weights.

tests/data holds references generated once with torchvision 0.29.1 (it does not install beside torch 2.13):
the full state-dict keys and shapes of resnet18 and wide_resnet50_2, and resnet18's layer3 output for
deterministic synthetic weights (see `synthetic_state`).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from padim_edge.errors import UserError
from padim_edge.model.backbones import get_backbone
from padim_edge.model.weights import load_backbone

DATA = Path(__file__).parent / "data"
SHAPES = json.loads((DATA / "torchvision_state_dict_shapes.json").read_text())


def synthetic_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Deterministic weights from key order (numpy's generator is stable across versions)."""
    state = {}
    for i, (key, shape) in enumerate(sorted(shapes.items())):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros((), dtype=torch.long)
            continue
        v = np.random.default_rng(i).standard_normal(shape).astype(np.float32) * 0.05
        state[key] = torch.from_numpy(np.abs(v) + 0.5 if key.endswith("running_var") else v)
    return state


@pytest.mark.parametrize("name", ["resnet18", "wide_resnet50_2"])
def test_torchvision_checkpoint_loads_strict(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pth"
    torch.save(synthetic_state(SHAPES[name]), path)  # a torchvision-format checkpoint, layer4 and fc included
    spec = get_backbone(name)
    model, info = load_backbone(name, spec, str(path), spec.arch.default_taps)  # strict=True inside
    assert info.source == str(path) and len(info.sha256) == 64
    assert len(model.state_dict()) == sum(1 for k in SHAPES[name] if not k.startswith(("layer4.", "fc.")))
    out = model(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in out] == [spec.arch.taps[t].channels for t in spec.arch.default_taps]


def test_resnet18_matches_torchvision_numerically(tmp_path: Path) -> None:
    path = tmp_path / "r18.pth"
    torch.save(synthetic_state(SHAPES["resnet18"]), path)
    model, _ = load_backbone("resnet18", get_backbone("resnet18"), str(path), ("layer1", "layer2", "layer3"))
    x = torch.from_numpy(np.random.default_rng(123).standard_normal((1, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        layer3 = model(x)[2].numpy()
    np.testing.assert_allclose(layer3, np.load(DATA / "torchvision_resnet18_layer3.npz")["resnet18"], atol=1e-5)


def test_lite0_packaged_imagenet_weights() -> None:
    taps = ("blocks.2", "blocks.4", "blocks.7", "blocks.10")
    model, info = load_backbone("efficientnet_lite0", get_backbone("efficientnet_lite0"), "default", taps)
    assert info.source.startswith("package:") and info.sha256.startswith("579344248a")
    shapes = [tuple(o.shape) for o in model(torch.zeros(2, 3, 224, 320))]
    assert shapes == [(2, 24, 56, 80), (2, 40, 28, 40), (2, 80, 14, 20), (2, 112, 14, 20)]


def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r18.pth"
    torch.save(synthetic_state(SHAPES["resnet18"]), path)
    with pytest.raises(UserError, match="does not fit backbone 'wide_resnet50_2'"):
        load_backbone("wide_resnet50_2", get_backbone("wide_resnet50_2"), str(path), ("layer1",))


def test_pickled_code_is_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "hook": Path("/")}, path)  # an arbitrary object: needs unpickling
    with pytest.raises(UserError, match="weights-only"):
        load_backbone("resnet18", get_backbone("resnet18"), str(path), ("layer1",))


def test_offline_official_weights_name_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # unreachable: behaves as offline
    with pytest.raises(UserError) as err:
        load_backbone("resnet18", get_backbone("resnet18"), "default", ("layer1",))
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "checkpoints") in message
    assert "\n" not in message


def test_unknown_backbone() -> None:
    with pytest.raises(UserError, match="unknown backbone 'vgg16'"):
        get_backbone("vgg16")

"""Rewrites of the exported ONNX graph that the exporter cannot express from PyTorch.

EfficientNet's TF-"same" padding is asymmetric at stride 2, which a PyTorch Conv2d cannot hold, so the
trace has a Pad in front of those convolutions, its pads computed by a chain of constant ops that the
exporter leaves unfolded. Here the chain is evaluated once (onnx's reference evaluator) and the zeros are
moved into the Conv's own `pads`: no Pad node, no extra copy and no layout change around it at run time.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in model.graph.node for out in node.output}


def constant_value(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of tensor `name` if it depends on constants only (initializers, Constant nodes), else None."""
    inits = {i.name: i for i in model.graph.initializer}
    producers = _producers(model)
    needed, stack, used_inits = [], [name], set()
    while stack:
        tensor = stack.pop()
        if tensor in inits:
            used_inits.add(tensor)
            continue
        node = producers.get(tensor)
        if node is None:
            return None  # a graph input: not constant
        if node not in needed:
            needed.append(node)
            stack.extend(x for x in node.input if x)
    order = [n for n in model.graph.node if n in needed]  # keep the graph's topological order
    sub = helper.make_graph(
        order,
        "const",
        [],
        [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)],
        [inits[i] for i in used_inits],
    )
    sub_model = helper.make_model(sub, opset_imports=model.opset_import)
    return ReferenceEvaluator(sub_model).run(None, {})[0]


def fold_pads_into_convs(model: onnx.ModelProto) -> int:
    """Move every constant zero spatial Pad that feeds only a Conv into that Conv's `pads`; returns the count."""
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    folded = 0
    for pad in [n for n in model.graph.node if n.op_type == "Pad"]:
        after = users.get(pad.output[0], [])
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        if mode != b"constant" or len(after) != 1 or after[0].op_type != "Conv" or len(pad.input) > 2 and pad.input[2]:
            continue
        pads = constant_value(model, pad.input[1])
        if pads is None or len(pads) != 8 or any(pads[[0, 1, 4, 5]]):
            continue
        conv = after[0]
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        new = [old[0] + int(pads[2]), old[1] + int(pads[3]), old[2] + int(pads[6]), old[3] + int(pads[7])]
        kept = [a for a in conv.attribute if a.name not in ("pads", "auto_pad")]
        del conv.attribute[:]
        conv.attribute.extend([*kept, helper.make_attribute("pads", new)])
        conv.input[0] = pad.input[0]
        model.graph.node.remove(pad)
        folded += 1
    remove_dead_nodes(model)
    return folded


def remove_dead_nodes(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    live = {o.name for o in model.graph.output}
    kept = []
    for node in reversed(model.graph.node):
        if any(out in live for out in node.output):
            kept.append(node)
            live.update(x for x in node.input if x)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    dead = [i for i in model.graph.initializer if i.name not in live]
    for init in dead:
        model.graph.initializer.remove(init)

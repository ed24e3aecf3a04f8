"""A tiny ONNX model built in memory (never downloaded): mean intensity → logits.

For the ONNX host's tests, demo and benchmark.

``logits = mean(image) · weights + bias`` through GlobalAveragePool, Flatten and Gemm,
so a test can compute the expected scores by hand.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["mean_intensity_model"]


def mean_intensity_model(
    weights: list[float], bias: list[float], *, size: tuple[int, int] = (32, 32), channels: int = 1
) -> bytes:
    """Return the serialized model of ``len(weights)`` outputs."""
    outputs = len(weights)
    w = numpy_helper.from_array(
        np.tile(np.asarray(weights, dtype=np.float32), (channels, 1)) / channels, "W"
    )
    b = numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "B")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "mean_intensity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, channels, *size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, outputs])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime of the supported range
    onnx.checker.check_model(model)
    return model.SerializeToString()

"""The ONNX model host, end to end with a tiny model the test builds itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medcoop.apps.firstparty import onnx_host as host
from medcoop.sim.phantoms import dx_image
from medcoop.sim.tiny_model import mean_intensity_model

FINDINGS = (
    {"code_value": "F1", "meaning": "Bright image"},
    {"code_value": "F2", "meaning": "Dark image", "threshold": 0.7},
)


def spec(**extra: object) -> host.ModelSpec:
    fields: dict[str, object] = {
        "model_file": "model.onnx",
        "model_name": "tiny-mean",
        "model_version": "1.0",
        "input_size": (32, 32),
        "findings": FINDINGS,
    }
    fields.update(extra)
    return host.ModelSpec.model_validate(fields)


def gradient_image(rows: int = 64, columns: int = 48) -> np.ndarray:
    return np.tile(np.linspace(0, 4000, columns), (rows, 1))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_scores_follow_the_declared_preprocessing() -> None:
    model = host.OnnxModel(mean_intensity_model([8.0, -8.0], [-2.0, 2.0]), spec())
    ds = dx_image(400.0, 400.0, pixels=gradient_image())
    findings = model.assess(ds)
    # range window → [0, 1]; a linear ramp keeps its mean of 0.5 through a bilinear resize
    mean = float(host.preprocess(ds, model.spec).mean())
    assert mean == pytest.approx(0.5, abs=0.02)
    assert [f.score for f in findings] == pytest.approx(
        [sigmoid(8 * mean - 2), sigmoid(-8 * mean + 2)], abs=1e-5
    )
    assert [f.present for f in findings] == [True, False]  # about 0.88 and 0.12


def test_a_fixed_window_and_normalisation_change_the_input() -> None:
    declared = spec(window={"center": 1000.0, "width": 2000.0}, mean=0.5, std=0.25)
    ds = dx_image(400.0, 400.0, pixels=gradient_image())
    tensor = host.preprocess(ds, declared)
    assert tensor.shape == (1, 1, 32, 32)
    assert tensor.dtype == np.float32
    # half the ramp lies above the window: clipped to 1, normalised to (1 − 0.5)/0.25 = 2
    assert tensor.max() == pytest.approx(2.0)
    assert tensor.min() == pytest.approx(-2.0, abs=0.1)  # resize interpolates the edge


def test_monochrome1_is_inverted_and_three_channels_replicated() -> None:
    ds = dx_image(400.0, 400.0, pixels=np.full((16, 16), 100.0))
    ds.PixelData = np.pad(np.full((8, 16), 100), ((0, 8), (0, 0))).astype("<u2").tobytes()
    ds.PhotometricInterpretation = "MONOCHROME1"
    tensor = host.preprocess(ds, spec(channels=3))
    assert tensor.shape == (1, 3, 32, 32)
    assert tensor[0, 0, 0, 0] == pytest.approx(0.0)  # stored 100 is now the dark half
    assert tensor[0, 0, -1, 0] == pytest.approx(1.0)
    assert np.array_equal(tensor[0, 0], tensor[0, 2])


def test_softmax_outputs_sum_to_one() -> None:
    model = host.OnnxModel(mean_intensity_model([1.0, 2.0], [0.0, 0.0]), spec(output="softmax"))
    scores = [f.score for f in model.assess(dx_image(400.0, 400.0, pixels=gradient_image()))]
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert scores[1] > scores[0]


def test_a_model_that_does_not_fit_its_declaration_is_refused() -> None:
    with pytest.raises(host.OnnxHostError, match="input shape"):
        host.OnnxModel(mean_intensity_model([1.0, 1.0], [0.0, 0.0], size=(16, 16)), spec())
    three = host.OnnxModel(mean_intensity_model([1.0, 1.0, 1.0], [0, 0, 0]), spec())
    with pytest.raises(host.OnnxHostError, match="3 outputs for 2 findings"):
        three.assess(dx_image(400.0, 400.0, pixels=gradient_image()))
    with pytest.raises(host.OnnxHostError, match="cannot be loaded"):
        host.OnnxModel(b"not a model", spec())


def test_images_the_model_is_not_for_are_refused() -> None:
    ct = dx_image(400.0, 400.0, pixels=gradient_image())
    ct.Modality = "CT"
    with pytest.raises(host.OnnxHostError, match="not DX or CR"):
        host.preprocess(ct, spec())
    no_voi = dx_image(400.0, 400.0, pixels=gradient_image())
    with pytest.raises(host.OnnxHostError, match="VOI window"):
        host.preprocess(no_voi, spec(window="voi"))

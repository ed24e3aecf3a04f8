"""ONNX model host for X-ray assessment: a vendor's model, run on CPU with the
preprocessing its manifest declares.

The vendor ships an ONNX file and declares, in its manifest's parameters, a
:class:`ModelSpec`: the input size, the window (a fixed centre/width, the image's own
VOI window, or the image's range), the normalisation, the channel count, how the
outputs become scores (``sigmoid`` of logits, ``softmax`` across classes, or scores
already) and the finding each output stands for. This module turns a DX/CR dataset into
the model's input tensor exactly as declared, runs onnxruntime's CPU provider, and
returns :class:`Finding` values; the SDK app wraps them in a TID 1500 SR.

Pure except for onnxruntime itself: the model is passed as bytes or a path, never
fetched (see ``docs/apps.md`` for how a vendor packages one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field
from pydicom.dataset import Dataset
from scipy import ndimage

__all__ = [
    "Finding",
    "FindingSpec",
    "ModelSpec",
    "OnnxHostError",
    "OnnxModel",
    "Window",
    "modality_pixels",
    "preprocess",
]

_PROJECTION_MODALITIES = frozenset({"DX", "CR"})


class OnnxHostError(ValueError):
    """A model, spec or image the host cannot use (carries the reason)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """A fixed VOI window in modality units."""

    center: float
    width: Annotated[float, Field(gt=0)]


class FindingSpec(_Strict):
    """What one model output stands for (a coded concept for the SR)."""

    code_value: Annotated[str, Field(min_length=1, max_length=16)]
    coding_scheme: Annotated[str, Field(min_length=1, max_length=16)] = "99MEDCOOP"
    meaning: Annotated[str, Field(min_length=1, max_length=64)]
    #: Score at or above which the finding is reported present.
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5


class ModelSpec(_Strict):
    """The preprocessing and output declaration of a vendor model (manifest parameters)."""

    model_file: Annotated[str, Field(min_length=1)]
    model_name: Annotated[str, Field(min_length=1, max_length=64)]
    model_version: Annotated[str, Field(min_length=1, max_length=32)]
    input_size: tuple[Annotated[int, Field(ge=1, le=4096)], Annotated[int, Field(ge=1, le=4096)]]
    #: A fixed window, ``"voi"`` for the image's WindowCenter/Width, ``"range"`` for its
    #: minimum to maximum.
    window: Window | Literal["voi", "range"] = "range"
    #: Applied after windowing to [0, 1]: ``(x − mean) / std``.
    mean: float = 0.0
    std: Annotated[float, Field(gt=0)] = 1.0
    channels: Literal[1, 3] = 1
    output: Literal["sigmoid", "softmax", "scores"] = "sigmoid"
    findings: Annotated[tuple[FindingSpec, ...], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class Finding:
    """One model output: the concept, its score in [0, 1], and whether it is present."""

    code_value: str
    coding_scheme: str
    meaning: str
    score: float
    present: bool


def modality_pixels(ds: Dataset) -> np.ndarray:
    """Return the image in modality units (rescale applied), MONOCHROME1 inverted so that
    more attenuation is always brighter.

    Raises
    ------
    OnnxHostError
        If ``ds`` is not a single-frame greyscale DX/CR image.
    """
    modality = str(ds.get("Modality", "")).upper()
    if modality not in _PROJECTION_MODALITIES:
        raise OnnxHostError(f"modality {modality or 'none'} is not DX or CR")
    if "PixelData" not in ds:
        raise OnnxHostError("the image has no pixel data")
    pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    if pixels.ndim != 2:
        raise OnnxHostError(f"expected one greyscale frame, got shape {pixels.shape}")
    pixels = pixels * float(ds.get("RescaleSlope", 1) or 1) + float(
        ds.get("RescaleIntercept", 0) or 0
    )
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        pixels = pixels.max() + pixels.min() - pixels
    return pixels


def _window_bounds(ds: Dataset, pixels: np.ndarray, window: Window | str) -> tuple[float, float]:
    if isinstance(window, Window):
        center, width = window.center, window.width
    elif window == "voi":
        if "WindowCenter" not in ds or "WindowWidth" not in ds:
            raise OnnxHostError("the model asks for the image's VOI window, which it lacks")
        center = float(np.atleast_1d(ds.WindowCenter)[0])
        width = float(np.atleast_1d(ds.WindowWidth)[0])
    else:
        low, high = float(pixels.min()), float(pixels.max())
        return low, high if high > low else low + 1.0
    return center - width / 2.0, center + width / 2.0


def preprocess(ds: Dataset, spec: ModelSpec) -> np.ndarray:
    """Return the model input for ``ds``: windowed to [0, 1], resized (bilinear) to
    ``spec.input_size``, normalised, as float32 of shape (1, channels, height, width)."""
    pixels = modality_pixels(ds)
    low, high = _window_bounds(ds, pixels, spec.window)
    scaled = np.clip((pixels - low) / (high - low), 0.0, 1.0)
    height, width = spec.input_size
    zoom = (height / scaled.shape[0], width / scaled.shape[1])
    resized = ndimage.zoom(scaled, zoom, order=1, mode="nearest", grid_mode=True)
    resized = resized[:height, :width]  # zoom may round one pixel over
    normalised = (resized - spec.mean) / spec.std
    tensor = np.broadcast_to(normalised, (spec.channels, height, width))
    return np.ascontiguousarray(tensor[np.newaxis], dtype=np.float32)


def _scores(raw: np.ndarray, output: str) -> np.ndarray:
    values = np.asarray(raw, dtype=np.float64).reshape(-1)
    if output == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-values)))
    if output == "softmax":
        shifted = np.exp(values - values.max())
        return np.asarray(shifted / shifted.sum())
    return np.clip(values, 0.0, 1.0)


class OnnxModel:
    """A vendor model loaded for CPU inference, with its declared preprocessing.

    Parameters
    ----------
    model
        The ONNX file's bytes, or its path.
    spec
        The manifest's declaration.
    threads
        Intra-op threads (one by default: the edge shares its cores with reception).

    Raises
    ------
    OnnxHostError
        If the model cannot be loaded, or its input or output does not fit ``spec``.
    """

    def __init__(self, model: bytes | Path, spec: ModelSpec, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        try:
            self._session = ort.InferenceSession(
                source, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise OnnxHostError(f"the model cannot be loaded: {exc}") from exc
        self.spec = spec
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise OnnxHostError(f"the model must take one input, it takes {len(inputs)}")
        self._input = inputs[0].name
        shape = list(inputs[0].shape)
        expected = [1, spec.channels, *spec.input_size]
        if len(shape) != 4 or any(
            isinstance(dim, int) and dim != want for dim, want in zip(shape, expected, strict=True)
        ):
            raise OnnxHostError(f"the model's input shape {shape} does not fit {expected}")

    def scores(self, tensor: np.ndarray) -> np.ndarray:
        """Return the scores in [0, 1] of a preprocessed input tensor."""
        outputs = self._session.run(None, {self._input: tensor})
        scores = _scores(outputs[0], self.spec.output)
        if scores.shape[0] != len(self.spec.findings):
            raise OnnxHostError(
                f"the model gave {scores.shape[0]} outputs for {len(self.spec.findings)} findings"
            )
        return scores

    def assess(self, ds: Dataset) -> list[Finding]:
        """Return the findings for one DX/CR image."""
        scores = self.scores(preprocess(ds, self.spec))
        return [
            Finding(
                code_value=f.code_value,
                coding_scheme=f.coding_scheme,
                meaning=f.meaning,
                score=round(float(score), 6),
                present=bool(score >= f.threshold),
            )
            for f, score in zip(self.spec.findings, scores, strict=True)
        ]

"""The platform's own apps: CT patient size and SSDE, projection X-ray exposure QA, and the
ONNX model host for X-ray assessment. The science is in pure modules (``ct_size``,
``exposure_qa``, ``onnx_host``); the SDK wrappers and manifests sit beside them."""

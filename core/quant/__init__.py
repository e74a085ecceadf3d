"""Int8 quantization on ONNX Runtime: one backend the ``quantize.*`` techniques and the export call.

NNCF's split: the techniques (``core.techniques.quantize_static`` and friends)
are the algorithm layer — their parameters, their outcome, their guard — and
:mod:`core.quant.ort_backend` is the only place that calls ONNX Runtime's
quantizer. :mod:`core.quant.ranking` scores layers by the signal int8 costs
them, :mod:`core.quant.fallback` keeps the worst ones in fp32 until an
accuracy target is met (``quantize.static``'s ``max_drop`` and the sensitivity
suggestion share it).
"""

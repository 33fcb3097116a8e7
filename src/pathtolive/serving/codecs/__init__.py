"""The three prediction protocols' codecs: request bytes to validated rows, predictions
to bytes, errors to each protocol's error body.

- :mod:`~pathtolive.serving.codecs.v1`: KServe V1, the native protocol
  (``/v1/models/NAME:predict``, ``:explain``, ``/feedback``);
- :mod:`~pathtolive.serving.codecs.mlflow`: MLflow scoring (``/invocations``), JSON or CSV;
- :mod:`~pathtolive.serving.codecs.v2`: Open Inference Protocol V2 (KServe V2, Triton
  HTTP), with Triton's binary tensor extension;
- :mod:`~pathtolive.serving.codecs.base`: what they share, the :class:`Prediction` they
  encode and the JSON rows, records and columns V1 and MLflow both accept.

Decoders only reshape what the request holds into columns; every check of the values
against the model's signature is :mod:`pathtolive.registry.validation`'s. Every problem
with a request is an :class:`~pathtolive.errors.InvalidInputError` (HTTP 400) that says
what is wrong and what the protocol accepts instead. The codecs know nothing of HTTP:
the routes in :mod:`pathtolive.serving.routes` read the request and send the bytes.
"""

__all__: list[str] = []

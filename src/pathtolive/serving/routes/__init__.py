"""The live server's routes, one router per protocol, each in a module of its own:

- :mod:`~pathtolive.serving.routes.health`: ``/health/live``, ``/health/ready``;
- :mod:`~pathtolive.serving.routes.operations`: ``/metrics`` (Prometheus);
- :mod:`~pathtolive.serving.routes.v1`: the native protocol in KServe V1's shape;
- :mod:`~pathtolive.serving.routes.mlflow`: MLflow scoring;
- :mod:`~pathtolive.serving.routes.v2`: the Open Inference Protocol V2.

A route parses the request, calls the :class:`~pathtolive.serving.runtime.Server`, and
writes its answer with its protocol's codec (:mod:`pathtolive.serving.codecs`). It
raises every failure as a :class:`~pathtolive.errors.PathToLiveError`; the one handler in
:mod:`~pathtolive.serving.routes.base` answers it in the shape of the route's protocol.
"""

__all__: list[str] = []

"""The live server: protocols, validation, batching and deployments (the prediction log it
writes is :mod:`pathtolive.predlog`).

The app is :func:`pathtolive.serving.app.create_app` and the process that runs it
:func:`pathtolive.serving.server.run_server`. The package exports nothing itself: the app
and its routes need the ``serve`` extra, and importing the package must not.
"""

__all__: list[str] = []

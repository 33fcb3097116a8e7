"""The command-line face: one module per command group, gathered by
:mod:`pathtolive.cli.main`, whose :func:`~pathtolive.cli.main.run` is the console
scripts' entry point. The package itself exports nothing."""

__all__: list[str] = []

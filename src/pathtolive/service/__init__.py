"""One module per operation; each checks the actor's role and audits what it changes.

A face imports the module of the operation it calls (``from pathtolive.service import
models``); the package exports nothing itself, so a command loads only what it uses.
"""

__all__: list[str] = []

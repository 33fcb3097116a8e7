"""pathtolive: continuous delivery for machine-learning models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pathtolive import errors

if TYPE_CHECKING:
    from pathtolive.workspace import Workspace

__version__ = "0.1.0"

__all__ = ["Workspace", "__version__", "errors"]


def __getattr__(name: str) -> Any:
    # The API objects pull in pandas and pyarrow; importing them lazily keeps the
    # command line and `import pathtolive.errors` quick.
    if name == "Workspace":
        from pathtolive.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'pathtolive' has no attribute {name!r}")

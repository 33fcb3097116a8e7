"""Lineage: where a model came from, what a dataset version fed, and OpenLineage events."""

from pathtolive.lineage.openlineage import run_events
from pathtolive.lineage.tree import LineageNode, render_tree

__all__ = ["LineageNode", "render_tree", "run_events"]

"""A lineage graph as a small tree of labelled nodes, for the terminal and for JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LineageNode", "render_tree"]


@dataclass(frozen=True)
class LineageNode:
    """One thing in a lineage (a model version, a run, a dataset version, …)."""

    kind: str
    label: str
    attributes: dict[str, Any] = field(default_factory=dict)
    children: tuple[LineageNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "attributes": self.attributes,
            "children": [child.to_dict() for child in self.children],
        }

    def walk(self) -> list[LineageNode]:
        """This node and every node below it, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


def render_tree(node: LineageNode) -> list[str]:
    """Plain text lines with box-drawing branches (no colour, so it pipes cleanly)."""
    lines = [_line(node)]
    _render_children(node, "", lines)
    return lines


def _line(node: LineageNode) -> str:
    details = ", ".join(
        f"{key} {value}" for key, value in node.attributes.items() if value not in (None, "", {})
    )
    return f"{node.kind} {node.label}" + (f" ({details})" if details else "")


def _render_children(node: LineageNode, prefix: str, lines: list[str]) -> None:
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{_line(child)}")
        _render_children(child, prefix + ("    " if last else "│   "), lines)

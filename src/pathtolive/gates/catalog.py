"""Which gates exist, which apply to a model, and running them into a report.

:data:`DEFAULT_CATALOG` holds the built-in gates; :func:`register_gate` adds a user
gate to it (as artifact store backends are added by URL scheme). A :class:`GateCatalog` of
one's own keeps a set of gates apart from the process-wide one, as tests do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from pathtolive import tracing
from pathtolive.errors import ConflictError, InvalidInputError, NotFoundError
from pathtolive.gates.base import Gate, GateContext, GateResult
from pathtolive.gates.builtin import (
    BeatBaselineGate,
    BeatLiveGate,
    CostPer1kGate,
    DataContractGate,
    ExplainabilityGate,
    LatencyGate,
    LoadsAndAnswersGate,
    MinMetricGate,
    MonthlyCostGate,
    SizeGate,
)
from pathtolive.gates.config import BUILTIN_GATE_KEYS, GateConfig
from pathtolive.gates.report import GateReport
from pathtolive.gates.slices import SliceGate

__all__ = [
    "BUILTIN_GATES",
    "DEFAULT_CATALOG",
    "GateCatalog",
    "evaluate_gates",
    "gates_for",
    "register_gate",
    "run_gates",
]

BUILTIN_GATES: tuple[Gate, ...] = (
    DataContractGate(),
    LoadsAndAnswersGate(),
    MinMetricGate(),
    BeatLiveGate(),
    BeatBaselineGate(),
    SliceGate(),
    LatencyGate(),
    SizeGate(),
    CostPer1kGate(),
    MonthlyCostGate(),
    ExplainabilityGate(),
)
"""The built-in gates, in the order they run."""


class GateCatalog:
    """Gates by name, in registration order (the order they run and are reported in)."""

    def __init__(self, gates: Sequence[Gate] = ()) -> None:
        self._gates: dict[str, Gate] = {}
        for gate in gates:
            self.register(gate)

    @classmethod
    def with_builtins(cls) -> GateCatalog:
        """A catalog holding the built-in gates."""
        return cls(BUILTIN_GATES)

    def register(self, gate: Gate | type[Gate], *, replace: bool = False) -> Gate:
        """Add ``gate`` (an instance, or a subclass taking no arguments) and return it. A
        name registered already is a :class:`ConflictError` unless ``replace``."""
        if isinstance(gate, type) and issubclass(gate, Gate):
            gate = gate()
        if not isinstance(gate, Gate):
            raise InvalidInputError(
                f"{gate!r} is not a gate: subclass pathtolive.gates.Gate, or decorate a "
                "function of the context with @pathtolive.gates.gate"
            )
        name = getattr(gate, "name", None)
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"{type(gate).__name__} has no name: set its 'name' attribute")
        if name in self._gates and not replace:
            raise ConflictError(
                f"a gate called {name!r} is registered already; "
                "choose another name or pass replace=True"
            )
        self._gates[name] = gate
        return gate

    def unregister(self, name: str) -> None:
        """Remove the gate called ``name``."""
        self.get(name)  # a NotFoundError that names the registered gates
        del self._gates[name]

    def get(self, name: str) -> Gate:
        """The gate called ``name``."""
        gate = self._gates.get(name)
        if gate is None:
            raise NotFoundError(f"no gate called {name!r}; registered: {', '.join(self._gates)}")
        return gate

    def names(self) -> tuple[str, ...]:
        """The registered gates' names, in order."""
        return tuple(self._gates)

    def custom_keys(self) -> tuple[str, ...]:
        """The config keys read by registered gates beyond the built-in settings: the keys
        ``[models.NAME.gates]`` accepts besides :data:`BUILTIN_GATE_KEYS`."""
        keys = {key for gate in self._gates.values() for key in gate.keys}
        return tuple(sorted(keys - set(BUILTIN_GATE_KEYS)))

    def gates_for(self, config: GateConfig) -> tuple[Gate, ...]:
        """The gates that apply to a model configured by ``config``, in order."""
        return tuple(gate for gate in self._gates.values() if gate.applies(config))

    def skipped_for(self, config: GateConfig) -> dict[str, str]:
        """The gates that do not apply to ``config`` because it leaves their setting out:
        gate name -> the key of ``[models.NAME.gates]`` that would turn it on."""
        return {
            gate.name: gate.keys[0] for gate in self._gates.values() if not gate.applies(config)
        }

    def __iter__(self) -> Iterator[Gate]:
        return iter(tuple(self._gates.values()))

    def __len__(self) -> int:
        return len(self._gates)


DEFAULT_CATALOG = GateCatalog.with_builtins()
"""The process-wide catalog: the built-in gates and those added by :func:`register_gate`."""


def register_gate(gate: Gate | type[Gate], *, replace: bool = False) -> Gate:
    """Add a user gate to :data:`DEFAULT_CATALOG`; see :meth:`GateCatalog.register`."""
    return DEFAULT_CATALOG.register(gate, replace=replace)


def gates_for(config: GateConfig) -> tuple[Gate, ...]:
    """The gates of :data:`DEFAULT_CATALOG` that apply to ``config``."""
    return DEFAULT_CATALOG.gates_for(config)


def evaluate_gates(
    context: GateContext, gates: Sequence[Gate] | None = None
) -> tuple[GateResult, ...]:
    """Every gate's result on ``context``; ``gates`` defaults to those of the default
    catalog that apply to ``context.config``.

    A gate that raises, or returns something other than a :class:`GateResult`, fails
    with a detail naming the problem: one broken gate (a user's plug-in, or inputs it
    cannot judge) must not hide the other gates' findings from the report."""
    chosen = gates_for(context.config) if gates is None else gates
    results: list[GateResult] = []
    for gate in chosen:
        with tracing.span("gate", {"pathtolive.gate": gate.name}) as span:
            result = _evaluate_gate(gate, context)
            span.set_attributes(
                {"pathtolive.gate.verdict": result.verdict, "pathtolive.gate.passed": result.passed}
            )
        results.append(result)
    return tuple(results)


def _evaluate_gate(gate: Gate, context: GateContext) -> GateResult:
    try:
        # Typed loosely: a plug-in may break its promise to return a GateResult.
        result: object = gate.evaluate(context)
    except Exception as exc:  # any failure of any gate is a finding, see above
        message = (str(exc).strip() or "no message").splitlines()[0]
        return GateResult.failing(
            gate.name,
            f"the gate could not judge: {type(exc).__name__}: {message}",
            data={"error": type(exc).__name__, "message": str(exc)},
        )
    if not isinstance(result, GateResult):
        return GateResult.failing(
            gate.name, f"the gate returned {type(result).__name__} instead of a GateResult"
        )
    return result if result.gate == gate.name else replace(result, gate=gate.name)


def run_gates(
    context: GateContext,
    *,
    version: int,
    created_at: datetime,
    catalog: GateCatalog | None = None,
) -> GateReport:
    """The report on candidate ``version`` of ``context.config.model``: the gates of
    ``catalog`` (the default one when None) that apply, evaluated in order."""
    chosen = catalog if catalog is not None else DEFAULT_CATALOG
    results = evaluate_gates(context, chosen.gates_for(context.config))
    return GateReport.from_results(
        context.config.model,
        version,
        context.metric,
        results,
        created_at,
        skipped=chosen.skipped_for(context.config),
    )

"""Follow the registry: poll the aliases, load what moved in the background, swap.

The watcher runs in its own thread. Each poll reads what every model should serve
(``live``, ``canary`` with its share, ``shadow``); a version not yet loaded is loaded
beside the current ones (its bytes checked against the registry's digest first), and
only then does the server's snapshot change, in one assignment. A version that fails to
load leaves the old one serving, is counted and logged, and its first failure is written
to the audit trail. It is tried again with a bounded exponential backoff (``retry_s``,
doubling up to ``retry_max_s``) while the registry still wants it: an artifact object
restored after a failure is picked up without a restart, by a fresh replica as by one
still serving an older version. :meth:`RegistryWatcher.failing` says what is failing
now, for the readiness probe and ``/metrics``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pathtolive.errors import PathToLiveError
from pathtolive.service.context import ServiceContext
from pathtolive.service.servables import (
    DeploymentTargets,
    ServableVersion,
    deployment_targets,
    load_servable,
    record_server_event,
)
from pathtolive.serving.deployment import Deployment, ServedModel, Snapshot

__all__ = ["FailedLoad", "LoadEvent", "RegistryWatcher"]

logger = logging.getLogger("pathtolive.serving")


@dataclass(frozen=True)
class LoadEvent:
    """What happened to one model version on a poll (for metrics)."""

    model: str
    version: int
    outcome: str  # "loaded" | "failed"
    error: str = ""


@dataclass(frozen=True)
class FailedLoad:
    """A version the registry wants served that does not load, and when it is retried."""

    model: str
    version: int
    error: str
    attempts: int
    retry_at: float
    """``time.monotonic()`` of the next attempt."""

    def next(self, error: str, now: float, first_s: float, max_s: float) -> FailedLoad:
        """This failure after one more failed attempt at ``now``."""
        return FailedLoad(
            self.model,
            self.version,
            error,
            self.attempts + 1,
            now + _delay(self.attempts + 1, first_s, max_s),
        )


def _delay(attempts: int, first_s: float, max_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: ``first_s`` doubled per failure, at most
    ``max_s``."""
    return min(first_s * 2.0 ** min(attempts - 1, 60), max_s)


@dataclass(eq=False)
class RegistryWatcher:
    """Polls the registry every ``interval`` seconds and publishes snapshots."""

    ctx: ServiceContext
    interval: float
    make_served: Callable[[ServableVersion], ServedModel]
    publish: Callable[[Snapshot], None]
    on_event: Callable[[LoadEvent], None] = lambda event: None
    models: tuple[str, ...] = ()
    extra_pii: tuple[str, ...] = ()
    retry_s: float = 1.0
    retry_max_s: float = 60.0
    snapshot: Snapshot = field(default_factory=Snapshot)
    _loaded: dict[tuple[str, int], ServedModel] = field(default_factory=dict)
    _failed: dict[tuple[str, int], FailedLoad] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pathtolive-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the registry may be briefly unreachable: try next time
                logger.exception("reading the registry failed; serving what is loaded")
            self._stop.wait(self.interval)

    def poll(self) -> Snapshot:
        """One read of the registry; loads what is new and publishes if anything moved."""
        targets = deployment_targets(self.ctx, self.models)
        wanted = {(t.name, v) for t in targets for v in t.versions()}
        loaded_now = False
        now = time.monotonic()
        for key in sorted(wanted):
            failed = self._failed.get(key)
            if key not in self._loaded and (failed is None or now >= failed.retry_at):
                loaded_now |= self._load(*key)
        # A version whose alias moved away starts afresh if it comes back. One assignment:
        # the readiness probe reads the dict from another thread.
        self._failed = {key: failed for key, failed in self._failed.items() if key in wanted}
        snapshot = Snapshot(
            deployments={t.name: self._deployment(t) for t in targets},
            loaded_any=self.snapshot.loaded_any or bool(self._loaded),
        )
        if snapshot != self.snapshot:
            self._announce(self.snapshot, snapshot)
            self.snapshot = snapshot
            self.publish(snapshot)
        self._loaded = {key: served for key, served in self._loaded.items() if key in wanted}
        if loaded_now:
            # The model's objects live as long as the server: move them out of the
            # collector's way so full collections stay short (they set the tail latency).
            gc.collect()
            gc.freeze()
        return snapshot

    def failing(self) -> list[FailedLoad]:
        """The versions the registry wants served that do not load, oldest key first."""
        failed = self._failed  # one read: the watcher's thread replaces the dict
        return [failed[key] for key in sorted(failed)]

    def _load(self, name: str, version: int) -> bool:
        key = (name, version)
        try:
            servable = load_servable(self.ctx, name, version, extra_pii=self.extra_pii)
            served = self.make_served(servable)
        except (PathToLiveError, Exception) as exc:  # any failure keeps the old version
            message = (
                exc.message if isinstance(exc, PathToLiveError) else f"{type(exc).__name__}: {exc}"
            )
            before = self._failed.get(key) or FailedLoad(name, version, message, 0, 0.0)
            failed = before.next(message, time.monotonic(), self.retry_s, self.retry_max_s)
            self._failed = {**self._failed, key: failed}
            retry_in = failed.retry_at - time.monotonic()
            logger.error(
                "cannot serve %s@%d (attempt %d), keeping what is serving; retrying in %.0f s: %s",
                name, version, failed.attempts, retry_in, message,
            )  # fmt: skip
            self.on_event(LoadEvent(name, version, "failed", message))
            if failed.attempts == 1:  # one audit event per failure, not one per retry
                self._audit("serve.model_failed", name, {"version": version, "error": message})
            return False
        self._loaded[key] = served
        recovered = self._failed.get(key)
        if recovered is not None:
            self._failed = {k: v for k, v in self._failed.items() if k != key}
            logger.warning(
                "loaded %s@%d after %d failed attempts", name, version, recovered.attempts
            )
        else:
            logger.info("loaded %s@%d", name, version)
        self.on_event(LoadEvent(name, version, "loaded"))
        return True

    def _deployment(self, target: DeploymentTargets) -> Deployment:
        def pick(number: int | None, current: ServedModel | None) -> ServedModel | None:
            if number is None:
                return None
            served = self._loaded.get((target.name, number))
            # Not loadable: keep whatever answered in that role before.
            return served if served is not None else current

        before = self.snapshot.deployments.get(target.name)
        live = pick(target.live, before.live if before else None)
        canary = pick(target.canary, before.canary if before else None)
        return Deployment(
            name=target.name,
            live=live,
            canary=canary if target.canary is not None else None,
            canary_share=target.canary_share if canary is not None else 0.0,
            shadow=pick(target.shadow, before.shadow if before else None),
        )

    def _announce(self, old: Snapshot, new: Snapshot) -> None:
        for name, deployment in new.deployments.items():
            previous = old.deployments.get(name)
            for role in ("live", "canary", "shadow"):
                now: ServedModel | None = getattr(deployment, role)
                then: ServedModel | None = getattr(previous, role) if previous else None
                if now is then:
                    continue
                if then is None and now is not None:
                    self._audit("serve.model_loaded", name, {"role": role, "version": now.version})
                elif then is not None and now is not None:
                    self._audit(
                        "serve.model_swapped",
                        name,
                        {"role": role, "from": then.version, "to": now.version},
                    )
                elif then is not None:
                    self._audit(
                        "serve.model_unloaded", name, {"role": role, "version": then.version}
                    )

    def _audit(self, action: str, model: str, details: dict[str, object]) -> None:
        try:
            record_server_event(self.ctx, action, f"model:{model}", details)
        except PathToLiveError:
            logger.exception("cannot write %s to the audit trail", action)

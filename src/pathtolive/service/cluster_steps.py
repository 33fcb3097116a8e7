"""Pipeline steps on a Dask cluster: the :class:`~pathtolive.pipelines.remote.RemoteSteps`
of a run given a scheduler.

The run's process connects when the first step that runs on Dask is not answered from the
cache (a run whose cluster steps are all cached never connects), submits each such call
as one task, and waits for its reply while its heartbeat goes on. On the worker the task
leaves the worker's thread pool while the step runs (``worker_client``), so a step that
computes Dask collections itself (``data.ddf``, LightGBM's or XGBoost's Dask estimators)
has the whole cluster, this worker included, to compute them on.

Failures: a step that raises fails the run with the one line it would have locally; a
worker that dies while it runs a step has the task retried on another worker by Dask
(``distributed.scheduler.allowed-failures`` times), then the run fails with a
``cluster_unavailable`` error, as it does when the scheduler does not answer; a task the
workers cannot even load (the step imports a package a worker lacks) fails the run saying
what is missing there. Ctrl-C cancels the task.
"""

from __future__ import annotations

import uuid
from concurrent.futures import CancelledError
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from pathtolive.compute import connect
from pathtolive.errors import ClusterUnavailableError, RunFailedError
from pathtolive.pipelines import StepReply, StepTask, StoreOpener, run_step_task
from pathtolive.pipelines.failures import one_line

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskSteps"]


class DaskSteps:
    """Runs step tasks on the cluster whose scheduler is at ``address``; the worker opens
    the artifact store with ``opener``. Use it as a context manager (the connection, if
    one was made, is closed on exit)."""

    def __init__(self, address: str, opener: StoreOpener) -> None:
        self.address = address
        self._opener = opener
        self._stack = ExitStack()
        self._client: Client | None = None

    def __enter__(self) -> DaskSteps:
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()
        self._client = None

    def run(self, task: StepTask) -> StepReply:
        """Run ``task`` on a worker and wait for its reply."""
        from distributed import KilledWorker

        client = self._connected()
        key = f"pathtolive-step-{task.step}-{uuid.uuid4().hex[:12]}"
        future = client.submit(_on_worker, task, self._opener, key=key, pure=False)
        try:
            reply = future.result()
        except KilledWorker as exc:
            raise ClusterUnavailableError(
                f"step {task.step!r}: the workers that ran it died (the last: {exc.last_worker});"
                " it was retried as often as the scheduler allows; look at the workers' "
                "memory and logs, then run again (finished steps are cached)"
            ) from exc
        except CancelledError as exc:
            raise ClusterUnavailableError(
                f"step {task.step!r}: the cluster cancelled it (the scheduler restarted, or "
                "another client cancelled its task); run again (finished steps are cached)"
            ) from exc
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailableError(
                f"step {task.step!r}: the connection to the Dask scheduler at {self.address} "
                f"was lost ({type(exc).__name__}); run again when it is back (finished steps "
                "are cached)"
            ) from exc
        except Exception as exc:
            # run_step_task answers every failure of the step itself: an exception here
            # means the worker could not load the task.
            raise RunFailedError(
                f"step {task.step!r} could not start on the Dask cluster: {one_line(exc)}; "
                "the workers need pathtolive and every package the step imports",
                details={"step": task.step, "exception": type(exc).__name__},
            ) from exc
        except BaseException:
            future.cancel()  # type: ignore[no-untyped-call]
            raise
        if not isinstance(reply, StepReply):  # pragma: no cover - a foreign task key
            raise RunFailedError(f"step {task.step!r}: the cluster answered {reply!r}")
        return reply

    def _connected(self) -> Client:
        if self._client is None:
            self._client = self._stack.enter_context(connect(self.address))
        return self._client


def _on_worker(task: StepTask, opener: StoreOpener) -> Any:
    from distributed import worker_client

    with worker_client():
        return run_step_task(task, opener)

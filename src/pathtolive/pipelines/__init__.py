"""Pipelines as code: steps, pipelines, tracked and cached runs.

Production training code lives in plain Python modules in the workspace's ``pipelines/``
folder. The service finds them (:func:`discover_pipelines`), binds a run's params
(:func:`bind_params`), and runs one (:func:`execute`) with the dataset versions, its stores
and a sink for metrics; it records the environment (:func:`capture_environment`) and the
code version (:func:`capture_code_version`) with the run. Code inside steps logs metrics
with :func:`log_metric`. A step can run on a Dask worker (``@step(compute="dask")``):
:mod:`~pathtolive.pipelines.remote` says what travels there and back.
"""

from pathtolive.errors import RunFailedError, StepFailedError
from pathtolive.pipelines.code_version import CodeVersion, capture_code_version
from pathtolive.pipelines.dataset import Dataset, Loader
from pathtolive.pipelines.decorators import Compute, Pipeline, Step, check_compute, pipeline, step
from pathtolive.pipelines.discovery import discover_pipelines, get_pipeline
from pathtolive.pipelines.environment import Environment, capture_environment, package_changes
from pathtolive.pipelines.executor import (
    CACHE_KEY_VERSION,
    ObjectStore,
    StepCache,
    StoredObject,
    execute,
)
from pathtolive.pipelines.logcapture import LOG_LIMIT
from pathtolive.pipelines.params import Param, bind_params
from pathtolive.pipelines.parts import ObjectReader, ParquetParts, StoreOpener
from pathtolive.pipelines.records import (
    GraphEdge,
    GraphNode,
    RunGraph,
    RunOutcome,
    StepRecord,
    StepStatus,
)
from pathtolive.pipelines.remote import (
    DatasetInput,
    RemoteSteps,
    StepReply,
    StepTask,
    StoredInput,
    run_step_task,
)
from pathtolive.pipelines.serialize import dumps, loads
from pathtolive.pipelines.tracking import (
    Metric,
    MetricSink,
    RecordingSink,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    recording,
    split_result,
)

__all__ = [
    "CACHE_KEY_VERSION",
    "LOG_LIMIT",
    "CodeVersion",
    "Compute",
    "Dataset",
    "DatasetInput",
    "Environment",
    "GraphEdge",
    "GraphNode",
    "Loader",
    "Metric",
    "MetricSink",
    "ObjectReader",
    "ObjectStore",
    "Param",
    "ParquetParts",
    "Pipeline",
    "RecordingSink",
    "RemoteSteps",
    "RunFailedError",
    "RunGraph",
    "RunOutcome",
    "Step",
    "StepCache",
    "StepFailedError",
    "StepRecord",
    "StepReply",
    "StepStatus",
    "StepTask",
    "StoreOpener",
    "StoredInput",
    "StoredObject",
    "bind_params",
    "capture_code_version",
    "capture_environment",
    "check_compute",
    "discover_pipelines",
    "dumps",
    "execute",
    "get_pipeline",
    "loads",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "package_changes",
    "pipeline",
    "recording",
    "run_step_task",
    "split_result",
    "step",
]

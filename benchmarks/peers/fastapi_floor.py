"""The hand-written floor of the serving benchmark: FastAPI + NumPy around a pickled model.

What a competent engineer writes in an afternoon to serve a scikit-learn model, and
nothing more: one ``POST /invocations`` taking the same ``dataframe_split`` body the
other servers get (``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``;
``{"instances": [[...], ...]}`` too), the rows as a float matrix in the order sent, the
model's ``predict_proba``, the probabilities as JSON by orjson. The body is checked only
as far as FastAPI's own model of it does (a list of lists of numbers, else 422); the
column names are not matched against the model's.

Usage:  python benchmarks/peers/fastapi_floor.py MODEL.pkl --port N [--workers 1]

uvicorn runs with uvloop and httptools when installed, as pathtolive does, and without an
access line per request (pathtolive writes none either; one would cost more than a small
model's predict).
"""

from __future__ import annotations

import argparse
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel

MODEL_ENV = "FASTAPI_FLOOR_MODEL"  # how worker processes find the model file


class Split(BaseModel):
    columns: list[str] = []
    data: list[list[float]]


class Body(BaseModel):
    dataframe_split: Split | None = None
    instances: list[list[float]] | None = None


def create_app(model: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    # async: the model call takes well under a millisecond, less than the hop to
    # FastAPI's thread pool that a plain ``def`` route would make for it.
    @app.post("/invocations")
    async def invocations(body: Body) -> Response:
        rows = body.dataframe_split.data if body.dataframe_split else body.instances
        if rows is None:
            raise HTTPException(422, "send dataframe_split or instances")
        probabilities = model.predict_proba(np.asarray(rows, dtype=np.float64))
        return Response(
            orjson.dumps({"predictions": probabilities}, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
        )

    return app


def load_model(path: str | os.PathLike[str]) -> Any:
    # A model fitted on a DataFrame warns on every call with a bare matrix.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    with Path(path).open("rb") as file:
        return pickle.load(file)


def app_from_environ() -> FastAPI:
    """The app of one worker process (uvicorn's ``--factory``)."""
    return create_app(load_model(os.environ[MODEL_ENV]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the pickled scikit-learn model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[MODEL_ENV] = str(args.model.resolve())
    uvicorn.run(
        "fastapi_floor:app_from_environ",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()

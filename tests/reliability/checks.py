"""Consistency checks of a workspace's stores after a crash, and process helpers.

What "consistent" means here, after any process was killed at any moment:

- every object under ``objects/`` hashes to its name (no half-written object is ever
  visible: writers rename a finished temporary file into place);
- every row that names an object (dataset versions, model versions, step outputs, the
  step cache, prediction segments) finds it there;
- the database's own references hold (``PRAGMA foreign_key_check``), dataset and model
  versions are numbered 1..n without gaps, and a model version registered by a run names
  a run that succeeded;
- every alias's history is one chain (each move starts where the previous one ended) that
  ends at the version the alias points to now;
- the audit chain verifies (``pathtolive audit verify``, exit 0).

Leftovers that are allowed, and reported rather than refused: temporary files under the
store's ``tmp/`` (cleaned by ``clean_temporary``), an object no row names yet (a writer
killed after publishing the object, before committing its row: the next identical write
reuses it), and a run row left ``running`` by a killed process (until its heartbeat is
older than ``LOST_AFTER``; then the next writer that looks marks it failed).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pathtolive.hashing import hash_file

OBJECT_COLUMNS = (
    ("dataset_versions", "content_hash"),
    ("model_versions", "artifact_digest"),
    ("run_steps", "output_digest"),
    ("step_cache", "output_digest"),
    ("prediction_segments", "artifact_digest"),
)


@dataclass
class StoreReport:
    problems: list[str] = field(default_factory=list)
    unreferenced_objects: int = 0
    temporary_files: int = 0
    running_runs: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "problems": self.problems,
            "unreferenced_objects": self.unreferenced_objects,
            "temporary_files": self.temporary_files,
            "running_runs": self.running_runs,
        }


def check_store(root: Path, environ: dict[str, str], *, cli: bool = True) -> StoreReport:
    """The consistency of the workspace at ``root`` (SQLite and a local folder). The
    audit chain is verified by ``pathtolive audit verify`` (``cli``) or, quicker, by the
    same check in this process."""
    state = root / ".pathtolive"
    objects = state / "objects"
    report = StoreReport()
    stored: set[str] = set()
    for path in objects.rglob("*") if objects.is_dir() else ():
        if path.is_file():
            digest = path.parent.name + path.name
            stored.add(digest)
            if hash_file(path) != digest:
                report.problems.append(f"object {digest[:12]} does not hash to its name")
    tmp = state / "tmp"
    report.temporary_files = sum(1 for p in tmp.rglob("*") if p.is_file()) if tmp.is_dir() else 0

    db = sqlite3.connect(state / "meta.db")
    try:
        referenced: set[str] = set()
        for table, column in OBJECT_COLUMNS:
            query = f"select {column} from {table} where {column} is not null"
            for (digest,) in db.execute(query):
                referenced.add(digest)
                if digest not in stored:
                    report.problems.append(f"{table}.{column} names missing object {digest[:12]}")
        report.unreferenced_objects = len(stored - referenced)
        for row in db.execute("pragma foreign_key_check"):
            report.problems.append(f"foreign key broken: {row}")
        for table, owner in (("dataset_versions", "dataset_id"), ("model_versions", "model_id")):
            query = f"select {owner}, version from {table} order by {owner}, version"
            numbers: dict[int, list[int]] = {}
            for key, version in db.execute(query):
                numbers.setdefault(key, []).append(version)
            for key, found in numbers.items():
                if found != list(range(1, len(found) + 1)):
                    report.problems.append(f"{table} of {owner} {key} numbered {found}")
        for version, status in db.execute(
            "select mv.version, r.status from model_versions mv join runs r on r.run_id = mv.run_id"
            " where r.kind = 'pipeline'"
        ):
            if status != "succeeded":
                report.problems.append(f"model version {version} comes from a {status} run")
        report.running_runs = db.execute(
            "select count(*) from runs where status = 'running'"
        ).fetchone()[0]
        aliases = db.execute(
            "select a.model_id, a.alias, mv.version from aliases a"
            " join model_versions mv on mv.id = a.model_version_id"
        ).fetchall()
        for model_id, alias, current in aliases:
            moves = db.execute(
                "select from_version, to_version from alias_history"
                " where model_id = ? and alias = ? order by id",
                (model_id, alias),
            ).fetchall()
            previous = None
            for start, end in moves:
                if start != previous:
                    report.problems.append(f"alias {alias} history jumps: {moves}")
                    break
                previous = end
            if previous != current:
                report.problems.append(
                    f"alias {alias} is {current}, its history ends at {previous}"
                )
    finally:
        db.close()

    if cli:
        verify = run_cli(root, environ, "audit", "verify", "--json")
        if verify.returncode != 0:
            report.problems.append(f"audit verify failed: {verify.stdout} {verify.stderr}")
    else:
        from pathtolive import Workspace

        with Workspace.open(root) as ws:
            chain = ws.verify_audit()
        if not chain.ok:
            report.problems.append(f"the audit chain does not verify: {chain}")
    return report


def run_cli(
    root: Path, environ: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathtolive", *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(root: Path, environ: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``pathtolive ARGS`` in its own process group (so its children die with it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pathtolive", *args],
        cwd=root,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_when(
    process: subprocess.Popen[str], condition: Callable[[], bool], *, timeout: float = 120
) -> bool:
    """SIGKILL the process group of ``process`` as soon as ``condition()`` holds; False
    when the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            return True
        if process.poll() is not None:
            process.communicate(timeout=30)
            return False
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    raise AssertionError(f"the condition never held within {timeout} s")


def group_runs(pgid: int, needle: str) -> bool:
    """Whether a process of process group ``pgid`` runs a command line holding ``needle``
    (Linux)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if needle.encode() in command:
            return True
    return False


def vm_rss_mb(pid: int) -> float:
    """The resident set of process ``pid`` in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def report_figures(name: str, figures: Mapping[str, object], tmp_path: Path) -> None:
    """Print the figures (visible with ``-s``), keep them as JSON beside the test, and
    append them to ``$PTL_RELIABILITY_REPORT`` when that is set."""
    line = json.dumps({"test": name, **figures}, sort_keys=True, default=str)
    print(f"\nRELIABILITY {line}")
    (tmp_path / f"{name}.json").write_text(line + "\n")
    target = os.environ.get("PTL_RELIABILITY_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(line + "\n")

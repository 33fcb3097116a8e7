"""The console scripts' entry leaves without the interpreter's teardown, and loses
nothing by it: the exit status is the command's, piped output is whole, and every exit
handler and every thread the command left running still finish first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pathtolive.cli.entry import _exit_status

# A command run the way the console script runs one, with a thread, an exit handler and a
# log handler that each write a file late: the quick exit must wait for all three.
_LATE_WRITERS = """
import atexit, logging, logging.handlers, sys, threading, time
from pathlib import Path
from pathtolive.cli.entry import main

folder = Path(sys.argv[1])
atexit.register(lambda: (folder / "handler").write_text("ran"))
# A log handler that writes only when logging shuts down.
held = logging.handlers.MemoryHandler(100, target=logging.FileHandler(folder / "log"))
logging.getLogger("late").addHandler(held)
logging.getLogger("late").warning("written at shutdown")

def late() -> None:
    time.sleep(0.3)
    (folder / "thread").write_text("ran")

threading.Thread(target=late).start()
sys.argv = ["pathtolive", *sys.argv[2:]]
main()
"""


def _python(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in a new interpreter, as a console script is started."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _console(
    args: list[str], cwd: Path, env: dict[str, str], *, folder: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return _python(["-c", _LATE_WRITERS, str(folder or cwd), *args], cwd, env)


def test_the_exit_status_is_the_commands(tmp_path: Path, cli_env: dict[str, str]) -> None:
    missing = _python(
        ["-m", "pathtolive", "data", "add", "nowhere.csv", "--name", "d"], tmp_path, cli_env
    )
    usage = _python(["-m", "pathtolive", "data", "add"], tmp_path, cli_env)

    assert missing.returncode == 3, missing.stderr  # no workspace here
    assert missing.stderr.startswith("error: ")
    assert usage.returncode == 2
    assert "Missing argument" in usage.stderr


def test_output_is_whole_and_late_work_finishes_before_the_exit(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    workspace = tmp_path / "ws"
    init = _console(["init", str(workspace)], tmp_path, cli_env, folder=tmp_path)
    assert init.returncode == 0, init.stderr
    for name in ("handler", "thread", "log"):
        (tmp_path / name).unlink()

    listed = _console(["data", "list", "--json"], workspace, cli_env, folder=tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []  # the whole document, flushed before the exit
    assert (tmp_path / "handler").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "ran"
    assert (tmp_path / "log").read_text() == "written at shutdown\n"


# A console script whose command spawns a child process (as a Dask worker or a server's
# worker is started): the child imports the script, and so the entry module, again.
_SPAWNING_SCRIPT = """
import multiprocessing, sys
from pathtolive.cli.entry import main


def child() -> None:
    pass


if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(target=child)
    process.start()
    process.join()
    print(f"child exit {process.exitcode}")
    sys.argv = ["pathtolive", "--version"]
    main()
"""


def test_a_spawned_child_keeps_its_own_exit_status(tmp_path: Path, cli_env: dict[str, str]) -> None:
    script = tmp_path / "console_script.py"
    script.write_text(_SPAWNING_SCRIPT)

    completed = _python([str(script)], tmp_path, cli_env)

    assert completed.returncode == 0, completed.stderr
    assert "child exit 0" in completed.stdout  # not the status the parent had then
    assert "0.1.0" in completed.stdout  # the parent's command ran and printed


@pytest.mark.parametrize(
    ("code", "status"), [(None, 0), (0, 0), (4, 4), (130, 130), ("a message", 1)]
)
def test_exit_codes_map_as_the_interpreter_maps_them(code: object, status: int) -> None:
    assert _exit_status(code) == status

"""``python -m pathtolive`` runs the command line."""

from pathtolive.cli.main import run

run()

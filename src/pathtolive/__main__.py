"""``python -m pathtolive`` runs the command line."""

from pathtolive.cli.main import run

if __name__ == "__main__":
    run()

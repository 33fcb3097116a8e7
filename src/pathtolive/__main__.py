"""``python -m pathtolive`` runs the command line."""

from pathtolive.cli.main import run

__all__: list[str] = []

if __name__ == "__main__":
    run()

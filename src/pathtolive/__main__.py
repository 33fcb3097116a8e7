"""``python -m pathtolive`` runs the command line, as the console scripts do."""

from pathtolive.cli.entry import main

__all__: list[str] = []

if __name__ == "__main__":
    main()

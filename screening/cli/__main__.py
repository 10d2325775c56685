"""``python -m screening.cli`` is ``ilscreen``."""

from screening.cli import main

main()

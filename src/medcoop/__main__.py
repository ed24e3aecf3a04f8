"""Allow ``python -m medcoop``."""

from medcoop.cli import app

app()

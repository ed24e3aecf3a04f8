"""Analytics test fixtures: the hub's real app and database fixtures, reused for the API tests."""

from tests.hub.conftest import app, client, db_url, pg_server_url, settings  # noqa: F401

"""The remote mode: the catalog commands through a running server's REST API (``/api/v1``), with an API
token. Nothing in the API imports this package."""

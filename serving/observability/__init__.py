"""Observability of the API: Prometheus metrics, JSON logs and request ids.

- `request_ids`: the `X-Request-ID` of each request and the layer that starts every request without one.
- `endpoints`: the route template and service labels a request is counted and logged under.
- `metrics`: `Metrics` (one registry per app) and the `/api/metrics` router.
- `warehouse_metrics`: scrape-time gauges read from the warehouse (validation, model quality, freshness).
- `json_logs`: `configure_logging`, one JSON object per line for structlog and stdlib loggers.
- `access_log`: the access middleware that times, counts and logs each request.
- `install`: `install_observability`, which puts the layers around an app.
"""

"""The stream's Prometheus series, read from the running service at scrape time.

Counting happens where it already does (the hub counts deliveries and dropped clients, the service
its connections and close codes); a scrape turns those numbers into families, so the stream's hot
path pays nothing for being observed. Per replica, like every series of `/api/metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from serving.stream.service import StreamService


def stream_collector(service: Callable[[], StreamService | None]) -> Callable[[], Iterator[Metric]]:
    """Families for `Metrics.register_collector`; none while the stream is off or not started."""

    def collect() -> Iterator[Metric]:
        stream = service()
        if stream is None:
            return
        yield GaugeMetricFamily("python_services_stream_connections", "Open stream connections on this replica.",
                                value=sum(stream.connections.values()))  # fmt: skip
        yield CounterMetricFamily("python_services_stream_connections_opened",
                                  "Stream connections accepted (authenticated and subscribed).", value=stream.opened)  # fmt: skip
        closes = CounterMetricFamily("python_services_stream_closes", "Stream connections the server closed (refused, dropped, idle), by close code.",
                                     labels=["code"])  # fmt: skip
        for code, count in sorted(stream.closed_codes.items()):
            closes.add_metric([str(code)], count)
        yield closes
        yield CounterMetricFamily("python_services_stream_events_delivered",
                                  "Events queued to stream clients (one per client it reached).",
                                  value=stream.hub.delivered_events)  # fmt: skip
        yield CounterMetricFamily("python_services_stream_clients_dropped",
                                  "Slow clients dropped with 1013 (their queue was full).",
                                  value=stream.hub.dropped_clients)  # fmt: skip
        if stream.hub.position is not None:  # unknown until the feed has read the log once
            yield GaugeMetricFamily("python_services_stream_position",
                                    "Newest event sequence number this replica has read from the log.",
                                    value=stream.hub.position)  # fmt: skip

    return collect

"""Prometheus metrics for one server process (a registry per app, no global state)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Every metric the server exports at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cti_http_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.request_seconds = Histogram("cti_http_request_seconds", "HTTP request latency", ["route"],
                                         registry=self.registry,
                                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.events_published = Counter("cti_events_published_total", "events committed and published",
                                        ["type"], registry=self.registry)
        self.events_delivered = Gauge("cti_events_delivered", "event deliveries to stream subscribers",
                                      registry=self.registry)
        self.stream_subscribers = Gauge("cti_event_stream_subscribers", "live event stream subscribers",
                                        registry=self.registry)
        self.queue_waiting = Gauge("cti_queue_waiting", "interactions waiting", ["queue", "channel"],
                                   registry=self.registry)
        self.queue_longest_wait = Gauge("cti_queue_longest_wait_seconds", "longest wait", ["queue", "channel"],
                                        registry=self.registry)
        self.connector_up = Gauge("cti_connector_up", "1 when the connector is connected", ["connector"],
                                  registry=self.registry)
        self.interaction_reads = Gauge("cti_interaction_reads", "interaction reads by outcome: 'kept' answered "
                                       "with the rendering kept for the row's current version, 'read' read the row",
                                       ["outcome"], registry=self.registry)
        self.write_batches = Gauge("cti_db_write_batches", "write batches committed", registry=self.registry)
        self.write_ops = Gauge("cti_db_write_ops", "write operations committed", registry=self.registry)
        self.webhook_deliveries = Counter("cti_outbox_deliveries_total", "outbound HTTP deliveries",
                                          ["kind", "outcome"], registry=self.registry)
        self.webhooks_received = Counter("cti_webhooks_received_total", "vendor webhooks by outcome",
                                         ["connector", "outcome"], registry=self.registry)

        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (label children are looked up once per route and status)."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.request_seconds.labels(route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

"""Prometheus metrics, computed at each scrape from the status file and the installed
certificate: a forced renewal run in another process shows at the next scrape."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import core


class CertificateCollector(Collector):
    def __init__(self, settings: core.Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        status = core.read_status(self.settings)
        info = core.cert_info(core.installed_fullchain(self.settings))
        yield GaugeMetricFamily(
            "acme_configured",
            "1 when SERVER_NAME and ACME_EMAIL are set (ACME is in use).",
            value=1 if self.settings.enabled else 0,
        )
        yield GaugeMetricFamily(
            "acme_certificate_installed",
            "1 when an ACME certificate is installed for nginx.",
            value=1 if info else 0,
        )
        if info:
            yield GaugeMetricFamily(
                "acme_certificate_not_after_seconds",
                "When the installed certificate expires (Unix time).",
                value=info.not_after,
            )
        yield GaugeMetricFamily(
            "acme_last_attempt_failed",
            "1 when the last attempt to obtain or renew the certificate failed.",
            value=1 if status.get("last_attempt_failed") else 0,
        )
        for key, name, help_text in (
            (
                "last_attempt",
                "acme_last_attempt_timestamp_seconds",
                "When the certificate was last requested from the CA (Unix time).",
            ),
            (
                "last_success",
                "acme_last_success_timestamp_seconds",
                "When a certificate was last obtained (Unix time).",
            ),
        ):
            if key in status:
                yield GaugeMetricFamily(name, help_text, value=float(status[key]))
        renewals = CounterMetricFamily(
            "acme_renewals",
            "Attempts to obtain or renew the certificate, by outcome.",
            labels=["outcome"],
        )
        for outcome in ("success", "failure"):
            renewals.add_metric([outcome], float(status["renewals"].get(outcome, 0)))
        yield renewals


def serve(settings: core.Settings) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CertificateCollector(settings))
    start_http_server(settings.metrics_port, registry=registry)

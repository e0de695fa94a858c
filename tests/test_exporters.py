"""The upstream OTLP/HTTP exporters as crocotel makes them: on their first export, with the
HTTP client that costs least, and spans still arrive."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from crocotel import bootstrap, exporters
from crocotel.config import OtlpSettings
from crocotel.exporters import Deferred, deferrable, faster, final_attempt_only, plain_http_transport
from crocotel.testing import OtlpReceiver
from tests.support import REPO, base_env

LOCAL = "http://127.0.0.1:4318/v1/traces"

CHILD = """
import sys
from opentelemetry import trace
from crocotel import bootstrap
telemetry = bootstrap.configure()
made = "opentelemetry.exporter.otlp.proto.http.trace_exporter" in sys.modules
with trace.get_tracer("child").start_as_current_span("sent over urllib3"):
    pass
assert telemetry.flush(10), "not flushed"
print(made, "opentelemetry.exporter.otlp.proto.http.trace_exporter" in sys.modules, "requests" in sys.modules)
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, netrc or credential-provider settings; a home without a .netrc."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    for name in ("", "_TRACES", "_LOGS", "_METRICS"):
        monkeypatch.delenv(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP{name}_CREDENTIAL_PROVIDER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("exporter", [OTLPSpanExporter, OTLPLogExporter])
def test_a_plain_http_endpoint_gets_the_urllib3_transport(exporter: type) -> None:
    assert isinstance(plain_http_transport(exporter, LOCAL), Urllib3HTTPTransport)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("endpoint", "variable"),
    [
        ("https://collector.example:4318/v1/traces", None),  # certifi's CA bundle, not the system's
        (LOCAL, "HTTP_PROXY"),
        (LOCAL, "all_proxy"),
        (LOCAL, "NETRC"),
        (LOCAL, "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER"),
    ],
)
def test_whatever_requests_would_do_differently_keeps_requests(
    endpoint: str, variable: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if variable is not None:
        monkeypatch.setenv(variable, "set")
    assert plain_http_transport(OTLPSpanExporter, endpoint) is None


@pytest.mark.usefixtures("clean_env")
def test_a_netrc_file_or_an_exporter_without_the_parameter_keeps_the_default(tmp_path: Path) -> None:
    class Older:
        def __init__(self, endpoint: str | None = None) -> None:
            self.endpoint = endpoint

    assert plain_http_transport(Older, LOCAL) is None
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login a password b\n")
    assert plain_http_transport(OTLPSpanExporter, LOCAL) is None


@pytest.mark.usefixtures("clean_env")
def test_spans_reach_a_plain_http_collector_without_requests(receiver: OtlpReceiver) -> None:
    """What a bot exporting to a local Collector gets: the span arrives; the exporter was made
    at the first export, not at start-up; requests never loads."""
    env: dict[str, Any] = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, CROCOTEL_LOG_FORMAT="none")
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    made_at_start, made_by_export, requests = done.stdout.split()
    assert (made_at_start, made_by_export, requests) == ("False", "True", "False")
    assert receiver.wait_for(lambda r: any(s.name == "sent over urllib3" for s in r.spans()))


class _Client:
    def __init__(self) -> None:
        self._shutdown_event = threading.Event()


class _Upstream:
    """The parts of an upstream exporter that the encoding exporters use."""

    def __init__(self) -> None:
        self._client = _Client()
        self.shut = False

    def shutdown(self) -> None:
        self.shut = True


def test_an_exporter_that_cannot_be_made_is_reported_once_and_never_raises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[int] = []

    def broken() -> Any:
        calls.append(1)
        raise OSError("no such certificate file")

    exporter = faster(Deferred("traces", broken))
    assert exporter.export([]) is SpanExportResult.FAILURE
    assert exporter.export([]) is SpanExportResult.FAILURE
    assert calls == [1]
    problems = capsys.readouterr().err
    assert problems.count("the OTLP traces exporter could not be made (OSError)") == 1
    assert "certificate" not in problems  # the type only: an error's text may hold a secret


def test_stopping_before_the_first_export_applies_when_the_exporter_is_made() -> None:
    upstream = _Upstream()
    deferred = Deferred("logs", lambda: upstream)
    final_attempt_only(deferred)
    assert not upstream._client._shutdown_event.is_set()
    assert deferred.get() is upstream and upstream._client._shutdown_event.is_set()
    made: list[int] = []
    never = Deferred("traces", lambda: made.append(1))
    never.shutdown()
    assert never.get() is None and made == [] and never.force_flush() is True


def test_only_known_releases_wait_for_their_first_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed exporter is a release crocotel knows (this fails when an upgrade needs a
    look at the private parts crocotel uses); any other is made at start-up, as before."""
    assert deferrable()
    otlp = OtlpSettings(protocol="http/protobuf", endpoint=LOCAL, headers={}, timeout=10.0)
    assert isinstance(bootstrap._otlp_exporter("traces", otlp, NoOpMeterProvider()), Deferred)
    monkeypatch.setattr(exporters, "_KNOWN_RELEASES", ())
    assert isinstance(bootstrap._otlp_exporter("traces", otlp, NoOpMeterProvider()), OTLPSpanExporter)


def test_a_known_release_without_the_expected_parts_is_reported_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exporter = faster(Deferred("logs", _Upstream))  # no _metrics, no export on its client
    assert exporter.export([]) is LogRecordExportResult.FAILURE
    assert exporter.export([]) is LogRecordExportResult.FAILURE
    assert capsys.readouterr().err.count("lacks the parts crocotel sends through") == 1


def test_an_exporter_made_during_shutdown_asks_no_stopped_meter_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The deferred exporter is made on its first export, which can be the final flush at exit,
    after the meter provider stopped: its self-metrics are then left off, without the SDK's
    'A shutdown MeterProvider can not provide a Meter' warning on the bot's stderr."""
    from opentelemetry.exporter.otlp.common._exporter_metrics import NoOpExporterMetrics
    from opentelemetry.sdk.metrics import MeterProvider

    from crocotel.exporters import with_self_metrics

    live, stopped = MeterProvider(), MeterProvider()
    stopped.shutdown()
    endpoint = "http://127.0.0.1:9/v1/traces"
    counted = with_self_metrics(OTLPSpanExporter(endpoint=endpoint), "traces", live)
    assert not isinstance(counted._metrics, NoOpExporterMetrics)
    with caplog.at_level("WARNING"):
        late = with_self_metrics(OTLPSpanExporter(endpoint=endpoint), "traces", stopped)
    assert isinstance(late._metrics, NoOpExporterMetrics)
    assert not [r for r in caplog.records if "shutdown" in r.getMessage()]
    live.shutdown()


def test_a_log_exporter_made_after_the_global_meter_provider_stopped_asks_it_nothing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log exporter is given no meter provider (its self-metrics use the global one): a
    program that logs once and exits makes it at the final flush, after that provider stopped,
    and its stderr got the SDK's 'A shutdown MeterProvider can not provide a Meter' warning."""
    from opentelemetry import metrics
    from opentelemetry.exporter.otlp.common import _exporter_metrics
    from opentelemetry.exporter.otlp.common._exporter_metrics import NoOpExporterMetrics
    from opentelemetry.sdk.metrics import MeterProvider

    from crocotel.exporters import with_self_metrics

    stopped = MeterProvider()
    stopped.shutdown()
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: stopped)
    monkeypatch.setattr(_exporter_metrics, "get_meter_provider", lambda: stopped)
    with caplog.at_level("WARNING"):
        late = with_self_metrics(OTLPLogExporter(endpoint="http://127.0.0.1:9/v1/logs"), "logs", None)
    assert isinstance(late._metrics, NoOpExporterMetrics)
    assert not [r for r in caplog.records if "shutdown" in r.getMessage()]

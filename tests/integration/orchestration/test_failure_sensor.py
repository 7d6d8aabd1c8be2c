"""The run failure sensor: one-paragraph summary, posted to a local webhook on a forced failure."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from orchestration.sensors import StepFailure, failure_summary, post_webhook, run_failure_alert


class _Hook(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append({"content_type": self.headers["Content-Type"], "body": json.loads(body)})
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    server.posts = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dg.asset
def flaky_source():
    raise ConnectionError("shop API timed out after 30 s\nsecond line that must not appear")


@dg.asset(deps=[flaky_source])
def downstream_mart():
    return 1


failing_job = dg.define_asset_job("failing_nightly", selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor)


def failed_run_context():
    defs = dg.Definitions(assets=[flaky_source, downstream_mart], jobs=[failing_job])
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("failing_nightly").execute_in_process(
        instance=instance, raise_on_error=False, tags={"retention/until": "2025-03-10T03:59:59.999999"}
    )
    assert not result.success
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    return ctx, result.dagster_run.run_id


def test_forced_failure_is_posted_to_the_webhook(webhook, monkeypatch):
    monkeypatch.setenv("RETENTION_WEBHOOK_URL", f"http://127.0.0.1:{webhook.server_port}/hook")
    ctx, run_id = failed_run_context()
    run_failure_alert(ctx)
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["content_type"].startswith("application/json")
    text = post["body"]["text"]
    assert set(post["body"]) == {"text"}
    assert "failing_nightly" in text and run_id in text
    assert "step `flaky_source` failed" in text
    assert "shop API timed out after 30 s" in text and "second line" not in text
    assert "2025-03-10T03:59:59.999999" in text
    assert f"/runs/{run_id}" in text
    assert "\n" not in text  # one paragraph


def test_no_webhook_configured_only_logs(webhook, monkeypatch, caplog):
    monkeypatch.delenv("RETENTION_WEBHOOK_URL", raising=False)
    ctx, run_id = failed_run_context()
    with caplog.at_level("ERROR", logger="retention.alerts"):
        run_failure_alert(ctx)
    assert webhook.posts == []
    assert any(run_id in r.getMessage() for r in caplog.records)


def test_webhook_errors_never_raise(webhook, monkeypatch):
    webhook.status = 500
    url = f"http://127.0.0.1:{webhook.server_port}/hook"
    assert post_webhook(url, "x") is False
    assert len(webhook.posts) == 1
    # nothing listening: refused quickly, no exception
    webhook.shutdown()
    webhook.server_close()
    t0 = time.monotonic()
    assert post_webhook(url, "x", timeout=2) is False
    assert time.monotonic() - t0 < 5
    assert post_webhook("not a url", "x") is False
    # and the sensor itself survives a dead webhook
    monkeypatch.setenv("RETENTION_WEBHOOK_URL", url)
    ctx, _ = failed_run_context()
    run_failure_alert(ctx)


def test_summary_without_step_failures():
    text = failure_summary("nightly_job", "abc", [], run_error="Run was killed by the daemon\nstack")
    assert "outside any step: Run was killed by the daemon" in text and "stack" not in text
    text = failure_summary("nightly_job", "abc", [StepFailure("retention_dbt", "dbt build failed")])
    assert "step `retention_dbt` failed: dbt build failed" in text


@pytest.mark.parametrize(
    "url",
    [
        "htp://hooks.example.com/services/T0/B0/s3cr3tT0ken",  # unknown scheme: urllib repeats the URL
        "http://127.0.0.1:1/services/T0/B0/s3cr3tT0ken?sig=s3cr3tSig",  # refused
        "http://bot:s3cr3tPass@127.0.0.1:1/hook",
        "http://[::1/s3cr3tT0ken",  # malformed
    ],
)
def test_webhook_failures_never_log_the_secret_parts_of_the_url(url, caplog):
    with caplog.at_level("DEBUG", logger="retention.alerts"):
        assert post_webhook(url, "x", timeout=2) is False
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "could not post" in logged or "unexpected error" in logged
    assert "s3cr3t" not in logged


@dg.asset
def raw_rows():
    return 1


@dg.asset_check(asset=raw_rows, name="gx_raw_rows", blocking=True)
def gx_raw_rows_check():
    # as assets.quality.checks reports a failed suite: each failed expectation on its own line
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata={"failed_rules": dg.MetadataValue.text(
        "ERROR raw_rows.no_empty_day: 1 day(s): 1998-06-10 (weekday median 27.5, records 0)\n"
        "WARN raw_rows.daily_volume_spike: 1 day(s): 1998-06-11 (4.2 x the weekday median)")})


@dg.asset(deps=[raw_rows])
def rows_mart():
    return 1


def test_alert_names_each_failed_expectation_of_a_blocking_check():
    defs = dg.Definitions(assets=[raw_rows, rows_mart], asset_checks=[gx_raw_rows_check],
                          jobs=[dg.define_asset_job("gated", executor_def=dg.in_process_executor)])
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("gated").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run).for_run_failure()
    from orchestration.sensors import summary_from_context

    text = summary_from_context(ctx)
    assert "check `raw_rows:gx_raw_rows` failed: ERROR raw_rows.no_empty_day: 1 day(s): 1998-06-10" in text
    assert "| WARN raw_rows.daily_volume_spike: 1 day(s): 1998-06-11" in text
    assert "rows_mart" not in text  # not started, not failed

"""Run failure alerts: a one-paragraph summary, logged, and posted to a webhook if set.

When RETENTION_WEBHOOK_URL is set (read at each evaluation), the summary is
POSTed as Slack-compatible JSON `{"text": ...}` with urllib (10 s timeout).
A webhook that is down never makes the sensor fail: the summary is logged
either way. Sensors need the Dagster daemon (`dagster dev` runs one).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from assets.settings import env, redact_url

logger = logging.getLogger("retention.alerts")

WEBHOOK_TIMEOUT_S = 10
UI_HINT = "open it in the Dagster UI (Runs → {run_id}, e.g. http://localhost:3000/runs/{run_id})"


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str


@dataclass(frozen=True)
class CheckFailure:
    """A failed asset check and what failed in it: each failed expectation as its own line."""

    check: str  # "<asset path>:<check name>"
    rules: tuple[str, ...] = ()


RULES_PER_CHECK = 10


def _check_text(c: CheckFailure) -> str:
    if not c.rules:
        return f"check `{c.check}` failed"
    shown = [first_line(r, 240) for r in c.rules[:RULES_PER_CHECK]]
    more = f" (and {len(c.rules) - len(shown)} more)" if len(c.rules) > len(shown) else ""
    return f"check `{c.check}` failed: " + " | ".join(shown) + more


def first_line(text: str | None, limit: int = 300) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return "no error message"


def _root_error(error) -> str:
    """First line of the innermost cause of a SerializableErrorInfo (the user's exception)."""
    if error is None:
        return "no error message"
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return first_line(error.message)


def failure_summary(
    job_name: str,
    run_id: str,
    failed_steps: Sequence[StepFailure],
    run_error: str | None = None,
    tags: dict[str, str] | None = None,
    failed_checks: Sequence[CheckFailure] = (),
) -> str:
    """One paragraph: what failed, where, the error's first line, each failed expectation, and where to look."""
    if failed_steps:
        steps = "; ".join(f"step `{s.step}` failed: {s.error}" for s in failed_steps)
    else:
        steps = f"the run failed outside any step: {first_line(run_error)}"
    if failed_checks:
        steps += "; " + "; ".join(_check_text(c) for c in failed_checks)
    window = ""
    if tags and tags.get("retention/until"):
        window = f" (extracting up to {tags['retention/until']} UTC)"
    return (
        f"Retention pipeline run FAILED: job `{job_name}`, run {run_id}{window}. {steps}. "
        f"The published warehouse, Parquet exports and report were left as they were "
        f"(they change only after a successful build); "
        + UI_HINT.format(run_id=run_id)
        + "."
    )


def redact_secrets(message: str, url: str) -> str:
    """`message` with the webhook URL (and any part of it carrying a token) replaced by its redacted form."""
    safe = redact_url(url)
    out = message.replace(url, safe)
    try:
        parts = urllib.parse.urlsplit(url)
        secrets = [parts.path, parts.query, parts.username or "", parts.password or "", parts.fragment]
    except ValueError:
        secrets = []
    for secret in sorted((s for s in secrets if len(s.strip("/")) >= 4), key=len, reverse=True):
        out = out.replace(secret, "…")
    return out


def post_webhook(url: str, text: str, timeout: float = WEBHOOK_TIMEOUT_S) -> bool:
    """POST {"text": text} as JSON. Returns whether it was accepted; never raises, never logs the URL's secret parts."""
    try:
        body = json.dumps({"text": text}).encode("utf-8")
        req = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            ok = 200 <= resp.status < 300
        if not ok:
            logger.warning("webhook %s answered HTTP %s", redact_url(url), resp.status)
        return ok
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning(
            "could not post the failure summary to the webhook %s: %s", redact_url(url), redact_secrets(str(exc), url)
        )
        return False
    except Exception as exc:  # never let an alert take the sensor down
        logger.warning(
            "unexpected error posting to the webhook %s: %s", redact_url(url), redact_secrets(repr(exc), url)
        )
        return False


def summary_from_context(context: dg.RunFailureSensorContext) -> str:
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        steps.append(StepFailure(event.step_key or "?", _root_error(getattr(data, "error", None))))
    run_error = context.failure_event.message if context.failure_event else None
    return failure_summary(run.job_name, run.run_id, steps, run_error, dict(run.tags),
                           failed_checks(context.instance, run.run_id))


def failed_checks(instance, run_id: str) -> list[CheckFailure]:
    """The run's failed ERROR checks, each with its failed expectations (metadata `failed_rules`) when it has them."""
    from dagster._core.events import DagsterEventType  # noqa: PLC0415

    out = []
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        listed = evaluation.metadata.get("failed_rules")
        rules = tuple(line for line in str(getattr(listed, "value", listed) or "").splitlines() if line.strip())
        out.append(CheckFailure(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", rules))
    return out


@dg.run_failure_sensor(
    name="run_failure_alert",
    description="Logs a one-paragraph summary of a failed run; posts it to RETENTION_WEBHOOK_URL when set.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    text = summary_from_context(context)
    context.log.error(text)
    logger.error(text)
    url = env("RETENTION_WEBHOOK_URL")
    if url:
        if post_webhook(url, text):
            context.log.info("failure summary posted to the webhook")
        else:
            context.log.warning("failure summary NOT posted: the webhook did not accept it (see the log)")


sensors = [run_failure_alert]

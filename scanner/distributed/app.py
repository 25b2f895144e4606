"""The Celery application both sides share: the broker, the result store, and the delivery
guarantees the design relies on.

- Late acks, redelivery when a worker is lost, one message prefetched at a time: a runner
  killed mid-task leaves its task unacknowledged, and Redis hands it to a runner again
  ``redelivery_after`` seconds after it was delivered (the Redis transport's visibility
  timeout). That bound must exceed the longest host deadline, or a slow host is audited
  twice (harmless: ingest keeps one result per host, but wasted).
- Results go to the same Redis (Celery's result backend, same URL: ``redis+socket://``
  works for both); runners retry writing them and
  the central retries reading them, so a broker restart loses nothing when Redis persists
  (``appendonly yes``).
- JSON only, on both sides: no pickle from the network.
"""

from __future__ import annotations

from celery import Celery

QUEUE_PREFIX = "site."
#: results are read once by the central; kept a week for an operator to look at
RESULT_TTL = 7 * 24 * 3600


def queue_name(site: str) -> str:
    return QUEUE_PREFIX + site


def make_app(broker: str, redelivery_after: float | None = None, results: bool = True) -> Celery:
    """``redelivery_after`` matters to the runners, which consume; the central only
    publishes (None). ``results``: with a result backend; the central publishes without one
    (it would subscribe to every task's result channel, and a fleet's results would pile up
    in that subscription) and reads results by polling (hygie.distributed.dispatch)."""
    transport = {
        # look for abandoned tasks every second, not every 100 s (kombu's default)
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    if redelivery_after is not None:
        transport["visibility_timeout"] = redelivery_after
    app = Celery("hygie", broker=broker, backend=broker if results else None, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_expires=RESULT_TTL,
        result_backend_always_retry=True,
        result_backend_max_retries=120,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_publish_retry_policy={
            "max_retries": 30,  # about a minute: a broker restarting, not one that is down
            "interval_start": 0.5,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app

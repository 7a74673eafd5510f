"""Run agents from events: a webhook's payload or a cron schedule, through the same
pipeline as any run (middleware, durable state, sessions), each event exactly once.

A schedule remembers the last due time it handled; after a restart, the occurrences
missed while the process was down are coalesced into one run (the latest), and a due
time is claimed with a unique row, so two schedulers sharing the database never both run
it. A webhook delivery's id becomes the run id, so a retried delivery gets the stored
outcome instead of a second run.
"""

from keel.triggers.schedule import Schedule, Scheduler
from keel.triggers.webhook import Webhook, fire_webhook

__all__ = ["Schedule", "Scheduler", "Webhook", "fire_webhook"]

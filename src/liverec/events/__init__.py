"""The durable event log: every acknowledged event and catalog upsert, in one seq order."""

from liverec.events.schema import Event, LogEntry, LoggedEvent, LoggedItem
from liverec.events.store import EventLog, EventLogError, open_event_log

__all__ = [
    "Event",
    "EventLog",
    "EventLogError",
    "LogEntry",
    "LoggedEvent",
    "LoggedItem",
    "open_event_log",
]

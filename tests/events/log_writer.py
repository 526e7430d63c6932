"""Child process for the multi-process tests: appends numbered batches and acknowledges each.

Usage: python log_writer.py URL TAG BATCH_SIZE N_BATCHES [--wait] [--pace]

Prints ``ready`` once the log is open (after a line on stdin with --wait), then for every
batch that ``append`` returned, one line ``first_seq last_seq batch_no``. N_BATCHES 0 means
append until killed. The content of event j of batch k is ``expected_event(TAG, k, j)``, so
a reader can check every acknowledged seq holds exactly what was written.
"""

from __future__ import annotations

import sys
import time

from liverec.core.types import EventType
from liverec.events import Event, open_event_log


def expected_event(tag: str, batch_no: int, j: int) -> Event:
    """The event a writer tagged ``tag`` puts at position ``j`` of batch ``batch_no``."""
    return Event(
        user_id=f"{tag}-u{batch_no % 7}",
        item_id=f"{tag}-{batch_no}-{j}",
        type=EventType(j % len(EventType)),
        ts=1_700_000_000.0 + batch_no + j / 1000,
        value=float(j) if j % 2 else None,
    )


def main(argv: list[str]) -> None:
    """Append batches to the log named on the command line until done or killed."""
    url, tag, batch_size, n_batches = argv[0], argv[1], int(argv[2]), int(argv[3])
    with open_event_log(url) as log:
        print("ready", flush=True)
        if "--wait" in argv:
            sys.stdin.readline()
        k = 0
        while n_batches == 0 or k < n_batches:
            first, last = log.append([expected_event(tag, k, j) for j in range(batch_size)])
            print(first, last, k, flush=True)
            k += 1
            if "--pace" in argv:
                # Sleep between batches so two writers overlap even on a loaded machine.
                time.sleep(0.001)


if __name__ == "__main__":
    main(sys.argv[1:])

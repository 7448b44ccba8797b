"""The store's lock: taken in the order asked for, so a query is not starved by the sink."""

from __future__ import annotations

import threading
import time

from storage.client import FairLock


def test_a_waiter_gets_the_lock_before_a_thread_that_takes_it_again_at_once() -> None:
    lock = FairLock()
    order: list[str] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        with lock:
            order.append("waiter")

    with lock:
        thread = threading.Thread(target=waiter)
        thread.start()
        waiting.wait()
        time.sleep(0.05)  # the waiter has asked for the lock
    for _ in range(3):  # what the sink does: statement after statement
        with lock:
            order.append("busy")
    thread.join()

    assert order[0] == "waiter"


def test_the_owner_takes_it_again_inside() -> None:
    lock = FairLock()
    with lock, lock:
        pass
    with lock:  # released in full: free again
        pass

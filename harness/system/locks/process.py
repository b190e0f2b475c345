"""The lock broker in a process of its own, its events batched back into the run's history.

In process mode the parent process applies every worker's events; a broker thread there
would compete with that work for one GIL, and lock hand-off would wait on it. Here the
broker has its own interpreter. It stamps its events with the run's ``SharedSequence``
(so they sort among the workers' events exactly as if recorded in place) and sends them to
the parent in batches: one pickled list per batch, flushed whenever the broker is about to
block for the next request (so an idle broker holds nothing back) or when a batch is full.
A thread in the parent merges each batch into the history; the history stays complete and
ordered, which the lock checker proves on every run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zmq

from harness.history.log import Event, History, Sequence, SharedSequence
from harness.system.locks.server import BrokerStateError, LockBroker

BATCH = 256  # events per message at most; an idle broker flushes sooner
START_TIMEOUT_S = 60.0  # a spawned interpreter imports zmq and the harness: slow on a loaded box


class _PipedHistory(History):
    """A history that keeps nothing and hands events to the parent in batches."""

    def __init__(self, run_id: str, sequence: Sequence, channel: Any) -> None:
        super().__init__(run_id, sequence)
        self._channel = channel
        self._batch: list[Event] = []

    def _add(self, event: Event) -> None:
        self._batch.append(event)
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the events recorded since the last flush as one message."""
        if self._batch:
            self._channel.send_bytes(pickle.dumps(("events", self._batch), pickle.HIGHEST_PROTOCOL))
            self._batch = []


def _broker_main(channel: Any, state_file: Path | None, run_id: str, sequence: Sequence,
                 options: dict[str, Any]) -> None:
    """Child process: serve until SIGTERM, then send the last events and close the pipe."""
    history = _PipedHistory(run_id, sequence, channel)
    broker = LockBroker("tcp://127.0.0.1:0", state_file, history, context=zmq.Context(), **options)
    signal.signal(signal.SIGTERM, lambda *_: broker.request_stop())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the broker stops

    def ready(endpoint: str) -> None:
        channel.send_bytes(pickle.dumps(("ready", endpoint)))

    try:
        broker.serve(on_ready=ready)
    except BrokerStateError as exc:
        channel.send_bytes(pickle.dumps(("error", str(exc))))
    finally:
        history.flush()
        channel.close()


def _receive(reader: Any, history: History) -> None:
    """Parent thread: merge the broker's event batches until its pipe closes."""
    while True:
        try:
            kind, events = pickle.loads(reader.recv_bytes())
        except EOFError:
            return
        if kind == "events":
            history.extend(events)


@contextlib.contextmanager
def broker_process(history: History, state_file: Path | None = None, **options: Any) -> Iterator[str]:
    """Run a loopback broker in its own process for the block; yield its endpoint.

    ``history`` must be numbered by a ``SharedSequence`` (process mode, or a thread-mode
    run given one), so the broker's events interleave with everyone else's by seq.
    """
    if not isinstance(history.sequence, SharedSequence):
        raise BrokerStateError("a broker process needs a history numbered by a SharedSequence")
    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_broker_main, args=(writer, state_file, history.run_id, history.sequence, options),
                       name="harness-broker", daemon=True)
    proc.start()
    writer.close()  # the child holds the only write end: EOF here means it is gone
    try:
        if not reader.poll(START_TIMEOUT_S):
            raise BrokerStateError(f"broker process did not start within {START_TIMEOUT_S:.0f}s")
        kind, value = pickle.loads(reader.recv_bytes())
    except (EOFError, BrokerStateError) as exc:
        proc.kill()
        proc.join()
        raise BrokerStateError(f"broker process failed to start: {str(exc) or 'it exited'}") from None
    if kind == "error":
        proc.join()
        raise BrokerStateError(value)
    receiver = threading.Thread(target=_receive, args=(reader, history), name="broker-events", daemon=True)
    receiver.start()
    try:
        yield value
    finally:
        proc.terminate()  # SIGTERM: the broker ends its leases, flushes and closes the pipe
        receiver.join()
        proc.join()
        reader.close()

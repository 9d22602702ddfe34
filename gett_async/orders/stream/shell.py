"""`OrderStream`: the thin async shell around `StreamEngine` (input, lanes, the iterator protocol).

The shell reads the input while the engine wants it, runs up to ``concurrency`` *lanes*
(tasks that send one job after another), and hands outcomes to the consumer. Every
decision about events and orders is the engine's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic

from ..._core import validate
from ..._http import telemetry
from ..._http.gate import BATCH
from ...errors import GettError, GettValidationError
from ..tracker import UpdateSender
from .book import OrderBook, Seed
from .checkpoint import Checkpoint
from .engine import CircuitBreaker, Job, StreamEngine
from .events import WIRE_KEYS, E, Events, EventSourceError
from .outcomes import StreamAbortedError, StreamSummary, UpdateOutcome, Watermark

logger = logging.getLogger("gett_async")


class _Lane(Generic[E]):
    """What one lane task is sending: a job from the engine, or None between jobs."""

    __slots__ = ("job",)

    def __init__(self, job: Job[E] | None) -> None:
        self.job = job


class OrderStream(Generic[E]):
    """An async iterator of `UpdateOutcome`s; see `gett_async.orders.stream` for its guarantees.

    Use ``async for outcome in stream`` (optionally inside ``async with stream``); `stop`
    drains it, `aclose` cancels what is in flight.
    Refuses (GettValidationError at creation): ``concurrency`` < 1, ``buffer`` < ``concurrency``,
    a seed without a UUID order id, a ``key_field`` that is a wire key. A checkpoint that cannot
    be written is raised from ``__anext__`` (no outcome is claimed recorded that is not).
    """

    def __init__(
        self,
        orders: UpdateSender,
        events: Events[E],
        *,
        concurrency: int = 16,
        strict: bool = False,
        snapshots: Iterable[Seed] | None = None,
        buffer: int | None = None,
        closed_memory: int = 50_000,
        checkpoint: Checkpoint | None = None,
        retry_failed: bool = False,
        key_field: str | None = None,
        ignore_unknown_keys: bool = False,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.concurrency = validate.whole("concurrency", concurrency, minimum=1)
        self.buffer = buffer if buffer is not None else max(64, 4 * concurrency)
        if not isinstance(self.buffer, int) or isinstance(self.buffer, bool) or self.buffer < concurrency:
            raise GettValidationError("buffer", f"must be at least concurrency ({concurrency}), got {self.buffer!r}")
        if key_field is not None and (not isinstance(key_field, str) or key_field in WIRE_KEYS):
            raise GettValidationError("key_field", f"must be a field name other than the wire keys, got {key_field!r}")
        self.strict = strict
        self.checkpoint = checkpoint
        book = OrderBook(
            orders, strict=strict, seeds=snapshots or (), closed_memory=closed_memory,
            lookup=None if checkpoint is None else checkpoint.order, retry_failed=retry_failed,
        )
        self._engine: StreamEngine[E] = StreamEngine(
            book, buffer=self.buffer, key_field=key_field, ignore_unknown_keys=ignore_unknown_keys, breaker=breaker,
            prior=None if checkpoint is None else checkpoint.outcome, checkpointing=checkpoint is not None,
            retry_failed=retry_failed, concurrency=self.concurrency,
            # The client's gate tells whether writes wait; a sender without one never ranks.
            gate_waits=getattr(orders, "writes_wait", lambda: False),
        )
        self._send = orders.send_update
        self._sync_it: Iterator[E] | None = None
        self._async_it: AsyncIterator[E] | None = None
        if isinstance(events, AsyncIterable):
            self._async_it = aiter(events)
        else:
            self._sync_it = iter(events)
        self._lanes: dict[asyncio.Task[None], _Lane[E]] = {}
        self._pull: asyncio.Future[E] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._consumer: asyncio.Task[Any] | None = None  # the task waiting inside __anext__, if one is
        self._lane_error: BaseException | None = None  # a bug in a lane, or a failed write: raised to the consumer
        self._stopped = False
        self._writer: asyncio.Future[None] | None = None  # the checkpoint write under way
        self._pause: asyncio.Task[None] | None = None  # the circuit breaker's pause under way
        self._batches_taken = self._batches_recorded = 0
        self._record_waiter: asyncio.Future[None] | None = None  # lanes waiting for a write to end
        connections = getattr(orders, "connection_limit", None)
        if connections is not None and concurrency > connections:
            logger.warning(
                "stream concurrency %d exceeds the client's max_connections %d; requests will queue for the pool",
                concurrency, connections,
            )

    # -- what a caller may look at -------------------------------------------------------

    @property
    def held(self) -> int:
        """Events held now: queued, in flight, or ended and not yet taken (at most ``buffer``)."""
        return self._engine.outcomes.held

    @property
    def max_held(self) -> int:
        """The most events held at once so far."""
        return self._engine.outcomes.max_held

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered (at most ``concurrency``)."""
        return self._engine.in_flight

    @property
    def counts(self) -> dict[str, int]:
        """Outcomes made so far per kind (``sent``, ``refused``, ...), taken by the consumer or not."""
        return dict(self._engine.outcomes.counts)

    @property
    def source_error(self) -> BaseException | None:
        """What the events iterable raised, if it did."""
        return self._engine.source_error

    @property
    def watermark(self) -> Watermark:
        """How many leading input events have final outcomes (with a checkpoint: recorded in
        it), and the key of the last of them: a queue consumer may commit up to there."""
        return self._engine.watermark

    @property
    def skipped(self) -> int:
        """Input events passed over because the checkpoint already held their final outcome."""
        return self._engine.skipped

    @property
    def abort_error(self) -> StreamAbortedError | None:
        """Why the stream stopped early: ``cause`` None after `stop`, else the 401/403 or the
        connection failure that tripped the circuit breaker. None while it has not."""
        return self._engine.abort_error

    @property
    def stopped(self) -> bool:
        """True once `stop` was called (not after an abort by the circuit breaker)."""
        return self._engine.stopped

    @property
    def pending_writes(self) -> int:
        """Writes the events held may still spend: waiting and in flight (an upper bound:
        some will be refused or superseded)."""
        return self._engine.pending_writes

    def estimated_drain_seconds(self, writes_per_minute: float = 100) -> float:
        """Seconds `pending_writes` take at ``writes_per_minute`` (default: Gett's production
        limit). Refuses (GettValidationError) a rate that is not a finite number above 0."""
        return self._engine.estimated_drain_seconds(writes_per_minute)

    @property
    def budget_aware(self) -> bool:
        """True while the stream ranks and collapses its events: more orders are ready than
        ``concurrency`` lanes carry, and it is not strict (see `gett_async.orders.stream`)."""
        return self._engine.budget_aware

    @property
    def paused(self) -> bool:
        """True while the circuit breaker holds requests back after a connection failure."""
        return self._engine.paused

    def stop(self, *, cancel_in_flight: bool = False) -> None:
        """Drain: read no more input and start no more requests; events not in flight end
        ``aborted`` (not final: a resumed run sends them). In-flight requests finish (each
        bounded by the client's timeout) and their outcomes are recorded, then the iterator
        ends. With ``cancel_in_flight`` (a second Ctrl-C), in-flight requests are cancelled:
        their events end ``aborted`` too, and a resumed run sends them again."""
        self._engine.stop()
        if self._pull is not None:
            self._pull.cancel()  # an async source may wait forever for its next event
        if self._pause is not None:
            self._pause.cancel()
        if cancel_in_flight:
            for task in self._lanes:
                task.cancel()
        self._wake()

    def snapshots(self) -> list[dict[str, Any]]:
        """Snapshots of the open orders this stream knows, to seed a later stream: the orders it
        moved (parked ones keep status, ETA and strictness, not their history) and the seeds
        it was given but never needed."""
        return self._engine.book.snapshots()

    # -- the async iterator --------------------------------------------------------------

    def __aiter__(self) -> OrderStream[E]:
        return self

    async def __anext__(self) -> UpdateOutcome[E]:
        engine = self._engine
        try:
            while True:
                if self._lane_error is not None:
                    error, self._lane_error = self._lane_error, None
                    self._cancel_all()
                    raise error
                if self._stopped:
                    raise StopAsyncIteration
                self._pump()
                outcome = engine.take()
                if outcome is not None:
                    telemetry.record_outcome(outcome.kind.value)
                    return outcome
                if engine.finished and not self._lanes and self._pull is None:
                    self._stopped = True
                    if engine.source_error is not None:
                        # Every event the source gave has had its outcome; now say it broke off.
                        raise EventSourceError(engine.source_error, engine.outcomes.admitted) from engine.source_error
                    raise StopAsyncIteration
                self._wakeup = asyncio.get_running_loop().create_future()
                self._consumer = asyncio.current_task()
                try:
                    await self._wakeup
                finally:
                    self._consumer = None
        except asyncio.CancelledError:
            self._cancel_all()
            raise

    async def __aenter__(self) -> OrderStream[E]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: start nothing more, cancel and await in-flight requests (their events end
        ``aborted``), write what the checkpoint has not recorded yet, close the input."""
        under_way = self._cancel_all()
        if under_way:
            # Done ones too: awaiting them runs their done callbacks first, so every lane's
            # outcome is recorded when this returns.
            await asyncio.gather(*under_way, return_exceptions=True)
        await self._write_rest()
        closer = getattr(self._async_it, "aclose", None)
        if closer is not None:
            await closer()

    async def _write_rest(self) -> None:
        """Wait for the write under way, then write every final outcome not recorded yet."""
        if self.checkpoint is None:
            return
        while True:
            if self._writer is not None:  # its end may start the next one: look again after it
                await asyncio.gather(self._writer, return_exceptions=True)
                continue
            batch = self._engine.take_batch()  # None also after a failed write: nothing more is claimed
            if batch is None:
                return
            await asyncio.to_thread(self.checkpoint.write, batch)
            self._engine.recorded()

    def _cancel_all(self) -> list[asyncio.Future[Any]]:
        """Stop, cancel every lane and the read under way; return them all (some may be done)."""
        self._stopped = True
        under_way: list[asyncio.Future[Any]] = list(self._lanes)
        if self._pull is not None:
            under_way.append(self._pull)
        if self._pause is not None:
            under_way.append(self._pause)
        for future in under_way:
            future.cancel()  # no-op on a done one
        return under_way

    # -- moving data between the input, the engine and the network --------------------------

    def _wake(self) -> None:
        self._record()
        self._hold_back()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _record(self) -> None:
        """Start writing what the checkpoint has not recorded, unless a write is under way
        (whatever ends meanwhile goes into the next batch: one write per burst, not per outcome)."""
        if self.checkpoint is None or self._writer is not None:
            return
        batch = self._engine.take_batch()
        if batch is None:
            return
        # A worker thread: an fsync must not stall the requests in flight.
        self._batches_taken += 1
        self._writer = asyncio.ensure_future(asyncio.to_thread(self.checkpoint.write, batch))
        self._writer.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writer = None
        waiter, self._record_waiter = self._record_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # outcomes that cannot be recorded must not be claimed: stop the stream
            self._lane_error = error
            self._cancel_all()
        else:
            self._batches_recorded += 1
            self._engine.recorded()
        self._wake()

    async def _until_recorded(self, need: int) -> None:
        while self._batches_recorded < need and (self._writer is not None or self._engine.has_unrecorded):
            if self._record_waiter is None:
                self._record_waiter = asyncio.get_running_loop().create_future()
            await self._record_waiter

    def _hold_back(self) -> None:
        """While the circuit breaker pauses the stream, one timer ends the pause."""
        if self._engine.paused and self._pause is None and not self._stopped:
            self._pause = asyncio.get_running_loop().create_task(self._pause_for(self._engine.pause_seconds))

    async def _pause_for(self, seconds: float) -> None:
        logger.warning("connection failure: the stream pauses %.3g s (%d in a row)", seconds,
                       self._engine.pause_rounds)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._pause = None
        self._engine.resume()
        self._wake()

    def _pump(self) -> None:
        """Read input while the engine wants it, then start lanes up to ``concurrency``."""
        engine = self._engine
        while engine.wants_input:
            if self._sync_it is None:
                if self._pull is None:
                    assert self._async_it is not None
                    self._pull = asyncio.ensure_future(anext(self._async_it))
                    self._pull.add_done_callback(self._pulled)
                break
            try:
                event = next(self._sync_it)
            except StopIteration:
                engine.end_input()
                break
            except Exception as exc:  # the caller's input failed: finish what it gave, then raise
                self._source_failed(exc)
                break
            engine.accept(event)
        while len(self._lanes) < self.concurrency and not self._stopped:
            job = engine.next_job()
            if job is None:
                break
            lane = _Lane(job)
            task = asyncio.get_running_loop().create_task(self._run(lane))
            self._lanes[task] = lane
            task.add_done_callback(self._lane_done)
        self._record()

    def _pulled(self, future: asyncio.Future[E]) -> None:
        self._pull = None
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, StopAsyncIteration):
            self._engine.end_input()
        elif exc is not None:
            self._source_failed(exc)
        else:
            self._engine.accept(future.result())
        self._wake()

    def _source_failed(self, exc: BaseException) -> None:
        self._engine.end_input(exc)
        logger.error("the event source raised %r after %d events; the stream finishes those, then raises", exc,
                     self._engine.outcomes.admitted)

    async def _run(self, lane: _Lane[E]) -> None:
        """Send the lane's job, report its answer, and go on with the next job while the
        consumer waits in ``__anext__``. A failure is an outcome, never raised."""
        engine, clock = self._engine, time.perf_counter
        job = lane.job
        while job is not None:
            started = clock()
            error: BaseException | None = None
            try:
                attempts = (await self._send(job.update, priority=BATCH)).attempts
            except Exception as exc:  # never let one event kill the stream (a cancel passes through)
                attempts, error = getattr(exc, "attempts", 1), exc
            lane.job = None  # answered: an outcome from here on, even if the lane is then cancelled
            engine.finish(job, error=error, attempts=attempts, latency=clock() - started)
            need = self._batches_taken + 1  # the batch that will carry this outcome
            self._wake()
            if self.checkpoint is not None:
                # The lane keeps its slot until the answer is durable: at any instant at most
                # ``concurrency`` requests are sent and not recorded, which bounds what a killed
                # run repeats when resumed.
                await self._until_recorded(need)
            # Requests start only while someone pulls: a lane goes on only while the consumer
            # waits inside __anext__ (and has not been cancelled there).
            job = lane.job = engine.next_job() if self._may_go_on() else None

    def _may_go_on(self) -> bool:
        consumer = self._consumer
        if consumer is None or self._stopped:
            return False
        if self._wakeup is not None and self._wakeup.cancelled():
            return False
        cancelling = getattr(consumer, "cancelling", None)  # Python 3.11+: a cancel it has not seen yet
        return cancelling is None or cancelling() == 0

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        lane = self._lanes.pop(task)
        if lane.job is not None:  # cancelled (or never started) before its answer came
            error = GettError("the update was cancelled before it was answered (the stream was stopped)")
            self._engine.abandon(lane.job, error)
        if not task.cancelled() and task.exception() is not None:
            self._lane_error = task.exception()  # a bug: the consumer gets it from __anext__
        self._wake()


async def summarize(stream: OrderStream[E], *, keep: int = 1000) -> StreamSummary[E]:
    """Consume ``stream`` to the end and return counts per kind, the first ``keep`` failures
    and refusals, ``source_error`` if the events iterable raised and ``abort_error`` if the
    stream stopped early (either makes ``ok`` False)."""
    summary: StreamSummary[E] = StreamSummary(keep=keep)
    async with stream:
        try:
            async for outcome in stream:
                summary.add(outcome)
        except EventSourceError as exc:
            summary.source_error = exc
    summary.abort_error = stream.abort_error
    summary.skipped = stream.skipped
    return summary

"""`RedisRateLimitGate`: one organisation's Gett rate limit, shared by every process that uses
the same Redis and key (``pip install gett-async[redis]``).

Design and figures: docs/RATELIMITS.md. In short, per request class Redis keeps a *log* of
the start times of the requests sent in the last window and of those reserved ahead; one
Lua script (`SCRIPT`), timed by Redis's own ``TIME``, hands each caller the earliest slot
that keeps every rolling window within the limit, records it, and the caller sleeps until
then. The slot rule is `gett_async._core.sharedlimit.first_free`, run inside Redis.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import attrs
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ._core import validate
from ._core.problem import server_number
from ._core.ratelimit import MAX_SERVER_PAUSE
from ._core.sharedlimit import batch_spacing, class_limit, default_margin, fallback_share, first_free
from ._http.gate import BATCH, INTERACTIVE, READ, WRITE, GateState, HeaderRateLimitGate, Priority
from .errors import GettValidationError, RateLimitError

__all__ = ["SCRIPT", "GateState", "RedisRateLimitGate"]

logger = logging.getLogger("gett_async.redis")

#: What a Redis outage looks like from here: the client's errors, a refused or reset
#: socket, and our own short timeout.
_DOWN = (RedisError, OSError, asyncio.TimeoutError)

#: Waits longer than this are logged at INFO (how long, why, which budget).
LOGGED_WAIT = 1.0

#: How long a call may take before Redis has ever answered this gate: that call connects
#: and loads the script, and a process that is still starting up may be slow to do so.
FIRST_CALL_TIMEOUT = 2.0

_US = 1_000_000

#: The one script. Times are whole microseconds on Redis's clock (exact in a Lua double).
#: KEYS: 1 the class's log (sorted set: member -> slot time), 2 its pause-until, 3 its last
#: batch slot, 4 the processes using the key (sorted set: process -> last call).
#: ARGV: 1 the operation, 2 the counted window (window + margin); then per operation below.
SCRIPT = """
local function us(x) return string.format('%.0f', x) end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local op, span = ARGV[1], tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')

if op == 'pause' then  -- ARGV 3: for how long; a pause only ever grows
  local untl = now + tonumber(ARGV[3])
  if untl > paused then
    redis.call('SET', KEYS[2], us(untl), 'PX', math.ceil((untl - now) / 1000) + 1)
    paused = untl
  end
  return {now, paused}
end
if op == 'release' then  -- ARGV 3: a reserved slot nobody will use
  redis.call('ZREM', KEYS[1], ARGV[3])
  return {now, paused}
end
if op == 'confirm' then  -- ARGV 3, 4: the slot just reached and its time; a pause set since
  if paused > tonumber(ARGV[4]) then redis.call('ZREM', KEYS[1], ARGV[3]) end  -- covers it: give it back
  return {now, paused}
end

-- 'acquire'. ARGV 3 the caller's class limit, 4 the full limit, 5 batch spacing (0 for
-- interactive), 6 the longest wait worth reserving (-1: any), 7 the process, 8 the new
-- slot's member, then pairs (member, microseconds ago) of the process's own recent slots.
local limit, full = tonumber(ARGV[3]), tonumber(ARGV[4])
local spacing, max_wait = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', us(now - span))
redis.call('ZADD', KEYS[4], us(now), ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', us(now - span))
redis.call('PEXPIRE', KEYS[4], math.ceil(span / 1000))
for i = 9, #ARGV - 1, 2 do
  local at = now - tonumber(ARGV[i + 1])
  if at > now - span then redis.call('ZADD', KEYS[1], us(at), ARGV[i]) end
end
local start, why = now, 'free'
if paused > start then start, why = paused, 'paused' end
if spacing > 0 then
  local last = tonumber(redis.call('GET', KEYS[3]) or '0')
  if last + spacing > start then start, why = last + spacing, 'paced' end
end
-- first_free: each run of `limit` entries closer than `span` forbids (last - span, first + span)
local flat = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. us(start - span), '+inf', 'WITHSCORES')
local log = {}
for i = 2, #flat, 2 do log[#log + 1] = tonumber(flat[i]) end
local slot = start
for i = 1, #log - limit + 1 do
  local first, last = log[i], log[i + limit - 1]
  if last - span >= slot then break end
  if last - first < span and slot < first + span then slot, why = first + span, 'full' end
end
local reserved = 0
if max_wait < 0 or slot - now <= max_wait then
  redis.call('ZADD', KEYS[1], us(slot), ARGV[8])
  if spacing > 0 then redis.call('SET', KEYS[3], us(slot), 'PX', math.ceil((slot - now + span) / 1000)) end
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(newest[2]) - now + span) / 1000) + 1)
  reserved = 1
end
local taken = redis.call('ZCOUNT', KEYS[1], '(' .. us(now - span), '+inf')
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local resets = now
if #oldest > 0 then resets = tonumber(oldest[2]) + span end
return {now, slot, reserved, why, full - taken, resets, paused, redis.call('ZCARD', KEYS[4])}
"""

_WHY = {
    "paused": "Gett asked for a pause",
    "paced": "batch work is paced evenly over the window",
    "full": "the window is full",
    "free": "the window is full",
    "share": "Redis is unreachable and this process's share is spent",
}


@attrs.define(slots=True)
class _Account:
    """One request class: its Redis keys, what Redis last said, and this process's own slots."""

    kind: str
    limit: int
    keys: tuple[str, str, str, str]
    #: This process's slots (its clock, member), sorted: seeds the fallback, refills Redis.
    own: list[tuple[float, str]] = attrs.field(factory=list)
    last_batch: float = -math.inf  # its clock; the fallback's pacing
    remaining: int = 0
    resets_at: float | None = None
    paused_until: float | None = None
    fallback_in_flight: int = 0

    def forget_before(self, moment: float) -> None:
        del self.own[: bisect.bisect_right(self.own, (moment, "\uffff"))]


class RedisRateLimitGate:
    """A `RateLimitGate` that every process using the same Redis and ``key`` shares.

    ``GettClient(gate=RedisRateLimitGate("redis://127.0.0.1:6379/0", key="my-org"))``.

    - ``redis``: a ``redis://`` / ``rediss://`` / ``unix://`` URL (the gate makes the client,
      with ``timeout`` on every socket operation, no retries, and closes it in `aclose`) or a
      ``redis.asyncio.Redis`` (used as is, left open; every call is still cut at ``timeout``).
    - ``key`` names the organisation's budget: every process of one organisation passes the
      same key. ``writes``/``reads`` are the limits per ``window`` seconds (Gett: 100 and
      1,000 per 60 s).
    - Never more than the limit in any rolling window counted ``window + margin`` long:
      ``margin`` (default 0.5 % of the window, at most 0.25 s) absorbs jitter between a slot
      and the moment its request reaches Gett.
    - First come, first served: a caller reserves the earliest free slot and sleeps until it.
    - ``priority="batch"`` callers leave ``reserve`` (default 10 %) of every window free and
      are paced evenly; interactive callers may use the whole budget.
    - A 429 or ``X-RateLimit-Remaining: 0`` seen by any process pauses the class for all of
      them (at most `MAX_SERVER_PAUSE`).
    - A slot further away than ``max_wait`` is not reserved: `acquire` raises RateLimitError
      with ``retry_after`` at once (pass the client's ``retry.max_retry_wait``; None: no cap).
    - Redis outage (an error, or no answer within ``timeout``; the very first call, which
      connects and loads the script, gets `FIRST_CALL_TIMEOUT`): this process falls back to
      `HeaderRateLimitGate` plus its own share, ``limit // processes``, where ``processes`` is
      ``fallback_processes`` if given, else the number of processes seen using the key in the
      last window (1 if Redis never answered); it logs one warning per outage, counts it in
      `state`, and tries Redis again every ``probe_interval`` seconds.

    Every wait goes through ``sleep`` (default `asyncio.sleep`); ``clock`` is this process's
    monotonic clock for its own slots (tests pass fakes of both).

    Refuses (GettValidationError naming the field): a ``redis`` that is neither a Redis URL
    nor a ``redis.asyncio.Redis``; a ``key`` that is not visible ASCII; limits or
    ``fallback_processes`` that are not whole numbers >= 1; a ``window`` or ``timeout`` that
    is not finite seconds > 0; ``margin``, ``max_wait``, ``probe_interval`` that are not
    finite seconds >= 0; a ``reserve`` outside [0, 1).
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        key: str,
        writes: int = 100,
        reads: int = 1000,
        window: float = 60.0,
        reserve: float = 0.1,
        margin: float | None = None,
        max_wait: float | None = 60.0,
        timeout: float = 0.25,
        fallback_processes: int | None = None,
        probe_interval: float = 1.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        validate.visible_ascii("key", key)
        writes = validate.whole("writes", writes, minimum=1)
        reads = validate.whole("reads", reads, minimum=1)
        self.window = validate.seconds("window", window)
        self.reserve = validate.finite("reserve", reserve, allow_zero=True, unit="a fraction")
        if self.reserve >= 1:
            raise GettValidationError("reserve", f"must be below 1 (a fraction of the budget), got {reserve!r}")
        self.margin = default_margin(self.window) if margin is None else validate.seconds(
            "margin", margin, allow_zero=True
        )
        self.max_wait = None if max_wait is None else validate.seconds("max_wait", max_wait, allow_zero=True)
        self.timeout = validate.seconds("timeout", timeout)
        self.fallback_processes = None if fallback_processes is None else validate.whole(
            "fallback_processes", fallback_processes, minimum=1
        )
        self.probe_interval = validate.seconds("probe_interval", probe_interval, allow_zero=True)
        if isinstance(redis, str):
            if not redis.startswith(("redis://", "rediss://", "unix://")):
                raise GettValidationError(
                    "redis", "must be a redis://, rediss:// or unix:// URL or a redis.asyncio.Redis"
                )
            # The sockets may take as long as a first call; `_call` cuts every call shorter.
            wait = max(self.timeout, FIRST_CALL_TIMEOUT)
            self._redis = aioredis.Redis.from_url(
                redis, socket_timeout=wait, socket_connect_timeout=wait, retry=Retry(NoBackoff(), 0)
            )
            self._owns_redis = True
        elif isinstance(redis, aioredis.Redis):
            self._redis, self._owns_redis = redis, False
        else:
            raise GettValidationError(
                "redis", f"must be a Redis URL or a redis.asyncio.Redis, got {type(redis).__name__}"
            )
        self.key = key
        self._script = self._redis.register_script(SCRIPT)
        self._span = self.window + self.margin
        prefix = f"gett-async:{{{key}}}"  # one hash tag: every key of an organisation on one cluster slot
        self._accounts = {
            kind: _Account(kind, limit, (f"{prefix}:{kind}:log", f"{prefix}:{kind}:pause",
                                         f"{prefix}:{kind}:batch", f"{prefix}:processes"))
            for kind, limit in ((WRITE, writes), (READ, reads))
        }
        self._sleep = sleep
        self._clock = clock
        self._process = secrets.token_hex(8)
        self._members = itertools.count(1)
        self._processes = 1
        self._fallback = HeaderRateLimitGate(max_wait=self.max_wait, sleep=sleep)
        self._fallback_active = False
        self._fallback_since = 0.0
        self._fallbacks = 0
        self._next_probe = 0.0
        self._probing = False
        self._answered = False
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        accounts = getattr(self, "_accounts", None)  # None while __init__ refuses its input
        if accounts is None:
            return "RedisRateLimitGate(<not built>)"
        return (
            f"RedisRateLimitGate(key={self.key!r}, writes={accounts[WRITE].limit}, reads={accounts[READ].limit}, "
            f"window={self.window:g}, reserve={self.reserve:g})"
        )

    # -- the protocol ----------------------------------------------------------------------

    async def acquire(self, kind: str, *, priority: Priority = INTERACTIVE) -> None:
        """Wait for this caller's slot (reserved at once, first come first served); a slot
        further than ``max_wait`` fails at once with RateLimitError and reserves nothing.
        Refuses (GettValidationError) an unknown ``kind`` or ``priority``."""
        account = self._account(kind)
        if priority not in (INTERACTIVE, BATCH):
            raise GettValidationError("priority", f"must be 'interactive' or 'batch', got {priority!r}")
        batch = priority == BATCH
        while True:
            if self._fallback_active and (self._probing or self._clock() < self._next_probe):
                await self._acquire_locally(account, batch, priority)
                return
            probing = self._probing = self._fallback_active
            member = f"{self._process}:{next(self._members)}"
            try:
                reply = await self._call(account, "acquire", *self._acquire_args(account, batch, member, probing))
            except _DOWN as exc:
                self._enter_fallback(exc)
                await self._acquire_locally(account, batch, priority)
                return
            except asyncio.CancelledError:
                self._spawn(self._quietly(account, "release", member))  # in case the script ran
                raise
            finally:
                self._probing = False
            if probing:
                self._leave_fallback()
            now, slot, reserved, why = int(reply[0]), int(reply[1]), int(reply[2]), _text(reply[3])
            self._learn(account, reply)
            wait = (slot - now) / _US
            if not reserved:
                raise self._too_long(account, wait, _WHY.get(why, why))
            local = self._clock() + wait
            bisect.insort(account.own, (local, member))
            if wait <= 0:
                return
            self._log_wait(account, wait, _WHY.get(why, why), batch)
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                self._forget(account, local, member)
                self._spawn(self._quietly(account, "release", member))
                raise
            try:
                answer = await self._call(account, "confirm", member, str(slot))
            except _DOWN as exc:
                self._enter_fallback(exc)  # the slot was granted: use it
                return
            paused = int(answer[1])
            if paused <= slot:
                return
            # Gett paused the class while this caller slept: the script gave the slot back.
            self._forget(account, local, member)
            account.paused_until = paused / _US

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """Learn from an answer: a 429's ``retry_after``, or ``X-RateLimit-Remaining: 0`` until
        ``X-RateLimit-Reset``, pauses the class for every process (at most `MAX_SERVER_PAUSE`;
        values that are not finite numbers are ignored)."""
        account = self._account(kind)
        if account.fallback_in_flight > 0:
            account.fallback_in_flight -= 1
            self._fallback.settle(kind, headers, retry_after)
        pause = _pause_from(headers, retry_after)
        if pause is not None and not self._fallback_active:
            self._spawn(self._quietly(account, "pause", str(math.ceil(pause * _US))))

    # -- what it knows ---------------------------------------------------------------------

    def state(self, kind: str) -> GateState:
        """The gate as of its last answer for ``kind`` (Redis's, or the fallback's own)."""
        account = self._account(kind)
        remaining, resets_at = account.remaining, account.resets_at
        if self._fallback_active:
            now = self._clock()
            account.forget_before(now - self._span)
            share = fallback_share(account.limit, self._fallback_processes())
            remaining = max(0, share - len(account.own))
            resets_at = time.time() + account.own[0][0] + self._span - now if account.own else None
        return GateState(
            kind=kind, limit=account.limit, remaining=remaining, resets_at=resets_at,
            paused_until=account.paused_until, processes=self._processes,
            fallback_active=self._fallback_active, fallbacks=self._fallbacks,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Finish the pauses being shared and close the Redis client if the gate made it."""
        tasks = list(self._tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisRateLimitGate:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- inside ------------------------------------------------------------------------------

    def _account(self, kind: str) -> _Account:
        account = self._accounts.get(kind)
        if account is None:
            raise GettValidationError("kind", f"must be 'read' or 'write', got {kind!r}")
        return account

    async def _call(self, account: _Account, op: str, *args: str) -> list[Any]:
        limit = self.timeout if self._answered else max(self.timeout, FIRST_CALL_TIMEOUT)
        reply = await asyncio.wait_for(
            self._script(keys=account.keys, args=[op, str(round(self._span * _US)), *args]), limit
        )
        self._answered = True
        return list(reply)

    def _acquire_args(self, account: _Account, batch: bool, member: str, refill: bool) -> list[str]:
        limit = class_limit(account.limit, self.reserve, batch=batch)
        spacing = batch_spacing(self._span, account.limit, self.reserve) if batch else 0.0
        max_wait = -1 if self.max_wait is None else round(self.max_wait * _US)
        args = [str(limit), str(account.limit), str(round(spacing * _US)), str(max_wait), self._process, member]
        if refill:
            # Back from an outage: put this process's own recent slots into the shared log (a
            # member already there only moves), so what it sent meanwhile is counted.
            now = self._clock()
            account.forget_before(now - self._span)
            for moment, own in account.own:
                args += [own, str(round((now - moment) * _US))]
        return args

    def _learn(self, account: _Account, reply: list[Any]) -> None:
        account.remaining = max(0, int(reply[4]))
        account.resets_at = int(reply[5]) / _US
        paused = int(reply[6])
        account.paused_until = paused / _US if paused > int(reply[0]) else None
        self._processes = max(1, int(reply[7]))

    def _fallback_processes(self) -> int:
        return self.fallback_processes or self._processes

    async def _acquire_locally(self, account: _Account, batch: bool, priority: Priority) -> None:
        """The outage path: this process's share, on its own log, then the header gate."""
        share = fallback_share(account.limit, self._fallback_processes())
        now = self._clock()
        account.forget_before(now - self._span)
        start = now
        if batch:
            start = max(start, account.last_batch + batch_spacing(self._span, share, self.reserve))
        slot = first_free([moment for moment, _ in account.own], start, class_limit(share, self.reserve, batch=batch),
                          self._span)
        wait = slot - now
        if self.max_wait is not None and wait > self.max_wait:
            raise self._too_long(account, wait, _WHY["share"])
        member = f"{self._process}:{next(self._members)}"
        bisect.insort(account.own, (slot, member))
        if batch:
            account.last_batch = slot
        if wait > 0:
            self._log_wait(account, wait, _WHY["share"], batch, share=share)
            await self._sleep(wait)
        await self._fallback.acquire(account.kind, priority=priority)
        account.fallback_in_flight += 1

    def _enter_fallback(self, exc: BaseException) -> None:
        self._next_probe = self._clock() + self.probe_interval
        if self._fallback_active:
            return
        self._fallback_active = True
        self._fallback_since = self._clock()
        self._fallbacks += 1
        processes = self._fallback_processes()
        logger.warning(
            "Redis did not answer (%s); until it does, this process sends at most %d writes and %d reads "
            "per %g s (an equal share for %d process%s)",
            type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}",
            fallback_share(self._accounts[WRITE].limit, processes),
            fallback_share(self._accounts[READ].limit, processes), self.window,
            processes, "" if processes == 1 else "es",
        )

    def _leave_fallback(self) -> None:
        self._fallback_active = False
        away = self._clock() - self._fallback_since
        logger.warning("Redis answers again after %.1f s; back to the shared gate", away)

    def _too_long(self, account: _Account, wait: float, why: str) -> RateLimitError:
        return RateLimitError(
            f"the next {account.kind} slot is {wait:.1f} s away ({why}; above max_wait={self.max_wait:g}); "
            "nothing was sent",
            status=429,
            retry_after=wait,
        )

    def _log_wait(self, account: _Account, wait: float, why: str, batch: bool, *, share: int | None = None) -> None:
        if wait <= LOGGED_WAIT or not logger.isEnabledFor(logging.INFO):
            return
        limit = share if share is not None else account.limit
        logger.info(
            "waiting %.1f s for a %s slot: %s (%s budget: %d of %d %ss per %g s%s)",
            wait, account.kind, why, "batch" if batch else "interactive",
            class_limit(limit, self.reserve, batch=batch), limit, account.kind, self.window,
            ", this process's share" if share is not None else f", key {self.key!r}",
        )

    def _forget(self, account: _Account, moment: float, member: str) -> None:
        index = bisect.bisect_left(account.own, (moment, member))
        if index < len(account.own) and account.own[index] == (moment, member):
            del account.own[index]

    async def _quietly(self, account: _Account, op: str, arg: str) -> None:
        """A call nobody waits for (sharing a pause, giving back a slot): an outage is noticed
        by the next `acquire`, so a failure here is only logged."""
        try:
            reply = await self._call(account, op, arg)
        except _DOWN as exc:
            logger.debug("could not %s in Redis: %r", op, exc)
            return
        paused = int(reply[1])
        if paused > int(reply[0]):
            account.paused_until = paused / _US

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _pause_from(headers: Mapping[str, str] | None, retry_after: float | None) -> float | None:
    """How long Gett asked this class to hold: a 429's wait, else the time to the reset when
    nothing remains; capped at `MAX_SERVER_PAUSE`, None when there is nothing to hold for."""
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        return min(retry_after, MAX_SERVER_PAUSE)
    if not headers:
        return None
    remaining = server_number(headers.get("X-RateLimit-Remaining"))
    reset = server_number(headers.get("X-RateLimit-Reset"))
    if remaining is None or remaining > 0 or reset is None:
        return None
    wait = reset - time.time()  # Gett's Unix time against ours: the one clock pairing left
    return min(wait, MAX_SERVER_PAUSE) if wait > 0 else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

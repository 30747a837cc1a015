"""The LLM budget's windows: every limit of one call checked and charged at once.

Two kinds of limit, the same arithmetic in Redis (one Lua script: one round trip per call,
on Redis' clock) and in memory (one process):

- `log`: an exact moving window of grant times, newest first, trimmed to the limit. A call
  fits when the entry `amount - cost` places back is older than the window; otherwise it
  waits until that entry leaves the window.
- `counter`: a sliding-window counter, a hash of two fixed windows; the previous window counts
  for the part of it the moving window still covers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Limit:
    """One limit: its key, kind (`log` of grants or token `counter`) and amount per window."""

    name: str
    kind: str
    amount: int

    def cost(self, wanted: int) -> int:
        """What a call costs here: one oversized ticket must still pass an empty window."""
        return max(0, min(wanted, self.amount))


ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local w = tonumber(ARGV[1])
local force = ARGV[2] == '1'
local id = math.floor(now / w)
local elapsed = (now - id * w) / w
local wait = 0
if not force then
  for i, key in ipairs(KEYS) do
    local kind, amount, cost = ARGV[i * 3], tonumber(ARGV[i * 3 + 1]), tonumber(ARGV[i * 3 + 2])
    if cost > 0 and kind == 'log' then
      local entry = redis.call('LINDEX', key, amount - cost)
      if entry and tonumber(entry) > now - w then
        wait = math.max(wait, tonumber(entry) + w - now)
      end
    elseif cost > 0 then
      local counts = redis.call('HMGET', key, tostring(id), tostring(id - 1))
      local cur, prev = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
      local free = amount - cost
      if prev * (1 - elapsed) + cur > free then
        if cur <= free and prev > 0 then
          wait = math.max(wait, (1 - (free - cur) / prev - elapsed) * w)
        else
          wait = math.max(wait, (1 - elapsed + math.max(0, 1 - free / cur)) * w)
        end
      end
    end
  end
  if wait > 0 then return string.format('%.6f', wait) end
end
for i, key in ipairs(KEYS) do
  local kind, amount, cost = ARGV[i * 3], tonumber(ARGV[i * 3 + 1]), tonumber(ARGV[i * 3 + 2])
  if cost > 0 and kind == 'log' then
    local stamp = string.format('%.6f', now)
    for _ = 1, cost do redis.call('LPUSH', key, stamp) end
    redis.call('LTRIM', key, 0, amount - 1)
    redis.call('EXPIRE', key, w + 1)
  elseif cost > 0 then
    redis.call('HINCRBY', key, tostring(id), cost)
    redis.call('HDEL', key, tostring(id - 2))
    redis.call('EXPIRE', key, 2 * w + 1)
  end
end
return '0'
"""


class RedisWindows:
    """Windows in Redis, shared by every process: one EVALSHA per call."""

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(ACQUIRE_LUA)

    def acquire(self, limits: list[tuple[Limit, int]], window_s: int, *, force: bool) -> float:
        """See `Windows.acquire`."""
        args: list[str | int] = [window_s, "1" if force else "0"]
        for limit, cost in limits:
            args += [limit.kind, limit.amount, cost]
        return float(self._script(keys=[limit.name for limit, _ in limits], args=args))


class MemoryWindows:
    """The same windows in this process only (the demo, tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: defaultdict[str, deque[float]] = defaultdict(deque)
        self._counts: defaultdict[str, dict[int, int]] = defaultdict(dict)

    def acquire(self, limits: list[tuple[Limit, int]], window_s: int, *, force: bool) -> float:
        """See `Windows.acquire`."""
        with self._lock:
            now = time.time()
            window_id = math.floor(now / window_s)
            elapsed = (now - window_id * window_s) / window_s
            wait = (
                0.0
                if force
                else max(
                    (
                        self._wait(lim, cost, now, window_s, window_id, elapsed)
                        for lim, cost in limits
                    ),
                    default=0.0,
                )
            )
            if wait > 0:
                return wait
            for limit, cost in limits:
                if cost > 0 and limit.kind == "log":
                    grants = self._logs[limit.name]
                    grants.extendleft([now] * cost)
                    while len(grants) > limit.amount:
                        grants.pop()
                elif cost > 0:
                    counts = self._counts[limit.name]
                    counts[window_id] = counts.get(window_id, 0) + cost
                    counts.pop(window_id - 2, None)
            return 0.0

    def _wait(
        self, limit: Limit, cost: int, now: float, window_s: int, window_id: int, elapsed: float
    ) -> float:
        if cost <= 0:
            return 0.0
        if limit.kind == "log":
            grants = self._logs[limit.name]
            index = limit.amount - cost
            if index < len(grants) and grants[index] > now - window_s:
                return grants[index] + window_s - now
            return 0.0
        counts = self._counts[limit.name]
        cur, prev = counts.get(window_id, 0), counts.get(window_id - 1, 0)
        free = limit.amount - cost
        if prev * (1 - elapsed) + cur <= free:
            return 0.0
        if cur <= free and prev > 0:
            return (1 - (free - cur) / prev - elapsed) * window_s
        return (1 - elapsed + max(0.0, 1 - free / cur)) * window_s

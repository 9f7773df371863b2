"""Result cache for named queries (the review's BaseService.cachedQuery, done right).

- one bounded cachetools ``TLRUCache``: each entry expires after its own query's TTL;
- invalidation by exact tag (``venue:1`` never touches ``venue:10``), never by substring;
- thread-safe (one lock around the cache; queries run outside it);
- a query that was running while an invalidation happened does not store its (possibly stale) rows;
- hits, misses, evictions (pushed out by the size bound), expirations and size, per query name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from cachetools import TLRUCache

from venuepulse.queries.core.registry import NamedQuery

_MISSING = object()


class _Entry:
    __slots__ = ("expires", "name", "rows", "tags")

    def __init__(self, name: str, rows: list[dict[str, Any]], tags: frozenset[str], expires: float):
        self.name = name
        self.rows = rows
        self.tags = tags
        self.expires = expires


class _Store(TLRUCache):
    """TLRUCache that reports what leaves it, so tag index and counters stay right."""

    def __init__(self, maxsize: int, owner: QueryCache, timer):
        super().__init__(maxsize, ttu=lambda _k, entry, _now: entry.expires, timer=timer)
        self._owner = owner

    def popitem(self):  # called only when the size bound pushes an entry out
        key, entry = super().popitem()
        self._owner._forget(key, entry, "evictions")
        return key, entry

    def expire(self, time=None):
        gone = super().expire(time)
        for key, entry in gone or ():
            self._owner._forget(key, entry, "expirations")
        return gone


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        items = [_freeze(v) for v in value]
        return tuple(sorted(items, key=repr)) if isinstance(value, set | frozenset) else tuple(items)
    hash(value)  # TypeError for anything else unhashable
    return value


def cache_key(name: str, params: Mapping[str, Any] | None, venue_scope: Sequence[Any] | None) -> Hashable | None:
    """The key of one run, or None when its parameters cannot be keyed (then it is not cached)."""
    try:
        scope = None if venue_scope is None else tuple(sorted(str(v) for v in venue_scope))
        return (name, _freeze(params or {}), scope)
    except TypeError:
        return None


def expand_tags(q: NamedQuery, params: Mapping[str, Any] | None) -> frozenset[str]:
    """The query's cache tags with ``{param}`` filled in, plus ``query:<name>``."""
    out = {f"query:{q.name}"}
    params = params or {}
    for tag in q.cache_tags:
        start = tag.find("{")
        if start < 0:
            out.add(tag)
            continue
        end = tag.index("}", start)
        value = params.get(tag[start + 1:end])
        values: Iterable[Any] = value if isinstance(value, list | tuple | set | frozenset) else [value]
        for v in values:
            out.add(f"{tag[:start]}{v}{tag[end + 1:]}")
    return frozenset(out)


def _blank() -> dict[str, int]:
    return {"hits": 0, "misses": 0, "evictions": 0, "expirations": 0, "invalidations": 0}


class QueryCache:
    """Bounded, thread-safe TTL cache of named-query results with tag invalidation."""

    def __init__(self, maxsize: int = 1024, timer=time.monotonic):
        if maxsize < 1:
            raise ValueError(f"cache size must be at least 1, not {maxsize}")
        self.maxsize = maxsize
        self._timer = timer
        self._lock = threading.RLock()
        self._store = _Store(maxsize, self, timer)
        self._by_tag: dict[str, set[Hashable]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._generation = 0

    # -- bookkeeping -----------------------------------------------------------------------------------

    def _count(self, name: str, what: str, n: int = 1) -> None:
        self._counts.setdefault(name, _blank())[what] += n

    def _unindex(self, key: Hashable, entry: _Entry) -> None:
        for tag in entry.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]

    def _forget(self, key: Hashable, entry: _Entry, why: str) -> None:
        self._unindex(key, entry)
        self._count(entry.name, why)

    # -- use -------------------------------------------------------------------------------------------

    def generation(self) -> int:
        """Changes on every invalidation; pass it back to :meth:`put` to drop results that raced one."""
        return self._generation

    def get(self, key: Hashable, name: str) -> list[dict[str, Any]] | None:
        """Copies of the cached rows, or None (a miss)."""
        with self._lock:
            entry = self._store.get(key, _MISSING)
            if entry is _MISSING:
                self._count(name, "misses")
                return None
            self._count(name, "hits")
            rows = entry.rows
        return [dict(r) for r in rows]

    def put(self, key: Hashable, q: NamedQuery, params: Mapping[str, Any] | None,
            rows: list[dict[str, Any]], generation: int) -> bool:
        """Store rows unless an invalidation happened since ``generation``; True when stored."""
        if not q.cached:
            return False
        tags = expand_tags(q, params)
        entry = _Entry(q.name, [dict(r) for r in rows], tags, self._timer() + float(q.cache_ttl))
        with self._lock:
            if generation != self._generation:
                return False
            old = self._store.get(key, _MISSING)
            if old is not _MISSING:
                self._unindex(key, old)  # replaced
            self._store[key] = entry
            for tag in tags:
                self._by_tag.setdefault(tag, set()).add(key)
        return True

    def invalidate(self, tag: str) -> int:
        """Drop every entry carrying exactly ``tag``; returns how many were dropped."""
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"a cache tag is a non-empty string, not {tag!r}")
        with self._lock:
            self._generation += 1
            keys = self._by_tag.pop(tag, set())
            dropped = 0
            for key in keys:
                entry = self._store.pop(key, _MISSING)
                if entry is _MISSING:
                    continue
                dropped += 1
                self._unindex(key, entry)
                self._count(entry.name, "invalidations")
            return dropped

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._store.clear()
            self._by_tag.clear()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per query name: hits, misses, evictions, expirations, invalidations, size, hit_rate; plus
        ``"total"`` (query names always contain a dot, so the key cannot collide)."""
        with self._lock:
            self._store.expire()
            sizes: dict[str, int] = {}
            for entry in self._store.values():
                sizes[entry.name] = sizes.get(entry.name, 0) + 1
            out: dict[str, dict[str, Any]] = {}
            total = {**_blank(), "size": 0}
            for name in sorted(set(self._counts) | set(sizes)):
                row = {**self._counts.get(name, _blank()), "size": sizes.get(name, 0)}
                for k in total:
                    total[k] += row[k]
                out[name] = row
            out["total"] = {**total, "maxsize": self.maxsize}
        for row in out.values():
            looked = row["hits"] + row["misses"]
            row["hit_rate"] = row["hits"] / looked if looked else None
        return out

"""Token Stats drop-in for gcli2api: record token usage without slowing requests, and answer the origin
design's statistics functions from Token Stats.

Copy this one file into gcli2api's src/ (standard library only). Recording, after each upstream reply:

    from src import token_stats

    await token_stats.record_usage(account_email, model, input_tokens, output_tokens, credential_file)
    token_stats.record_usage_from_response(account_email, model, upstream_reply_bytes_or_usage)
    async for chunk in token_stats.record_usage_from_stream(upstream_lines, account_email, model): ...

Calls put the record on an in-memory queue and return (microseconds; no parsing, no I/O). A background
thread batches records and POSTs them to Token Stats (TOKENSTATS_URL, default http://127.0.0.1:8788,
path /usage) with the token from TOKENSTATS_TOKEN or the token file in Token Stats' data folder. A second
background thread writes what cannot be sent now to a spool folder (TOKENSTATS_SPOOL_DIR, default a
per-user folder shared with the Go client); spool files are replayed, once each, when Token Stats answers
again. Every record carries a request id (generated when missing), so a replay never counts twice.

Reading: init_db, get_summary_stats, get_model_stats, get_account_stats, get_model_trend_hourly,
get_model_trend_daily, get_account_trend_hourly, clear_stats and get_stats_db_size have the origin
module's signatures and return shapes and are answered from Token Stats' /stats/* API, so a port's routes
and panel keep working; forward_stats passes a panel's /stats/* request through unchanged. See
docs/integrations/gcli2api.md.
"""

import asyncio
import atexit
import collections
import dataclasses
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

try:
    import fcntl
except ImportError:  # Windows: claims fall back to the age rule
    fcntl = None

__all__ = [
    "record_usage",
    "record_usage_nowait",
    "record_usage_from_response",
    "record_usage_from_stream",
    "flush",
    "Recorder",
    "init_db",
    "get_summary_stats",
    "get_model_stats",
    "get_account_stats",
    "get_model_trend_hourly",
    "get_model_trend_daily",
    "get_account_trend_hourly",
    "clear_stats",
    "get_stats_db_size",
    "forward_stats",
    "TokenStatsError",
    "TokenStatsSummary",
    "ModelTokenStats",
    "AccountTokenStats",
    "TrendPoint",
]

DEFAULT_URL = "http://127.0.0.1:8788"
DEFAULT_MAX_BYTES = 16 << 20
log = logging.getLogger("token_stats")

_SPOOL_PREFIX = "spool-"
_SPOOL_EXT = ".jsonl"
_CLAIMED_EXT = ".claimed"
_BAD_EXT = ".bad"
_STALE = 600.0  # seconds: the age at which a claim (without flock) or a temporary file is abandoned
_WARN_EVERY = 60.0  # seconds between two warnings of the same kind
_RECORD_OVERHEAD = 256  # bytes counted per record besides its strings and bodies
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cache_creation_tokens")


def default_data_dir(environ=None):
    """The Token Stats data folder (where its token file is), with the app's own rules."""
    env = os.environ if environ is None else environ
    if env.get("TOKENSTATS_DATA_DIR"):
        return env["TOKENSTATS_DATA_DIR"]
    home = env.get("HOME") or os.path.expanduser("~")
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA")
        return os.path.join(base, "Token Stats") if base else None
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Token Stats")
    xdg = env.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "tokenstats")
    return os.path.join(home, ".local", "share", "tokenstats")


def default_spool_dir(environ=None):
    """TOKENSTATS_SPOOL_DIR, else the per-user spool folder the Go client uses too."""
    env = os.environ if environ is None else environ
    if env.get("TOKENSTATS_SPOOL_DIR"):
        return env["TOKENSTATS_SPOOL_DIR"]
    home = env.get("HOME") or os.path.expanduser("~")
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "Token Stats", "spool")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Token Stats", "spool")
    xdg = env.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "tokenstats", "spool")
    return os.path.join(home, ".local", "state", "tokenstats", "spool")


def load_token(environ=None):
    """TOKENSTATS_TOKEN, else the token file in the data folder; None when there is none yet."""
    env = os.environ if environ is None else environ
    tok = (env.get("TOKENSTATS_TOKEN") or "").strip()
    if tok:
        return tok
    d = default_data_dir(env)
    if not d:
        return None
    try:
        with open(os.path.join(d, "token"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


# ---- records: what the caller hands over is kept as it is; the background threads encode it ----------

class _Raw:
    """A reply body as the caller gave it (bytes or str), not decoded or parsed on the request path."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


_USAGE_KEY = {bytes: b'"usageMetadata"', str: '"usageMetadata"'}
_USAGE_COLON = {bytes: re.compile(rb'\s*:\s*'), str: re.compile(r'\s*:\s*')}
_USAGE_WINDOW = 64 << 10  # a usageMetadata object is far smaller; larger ones take the full parse


def _usage_of_raw(data):
    """{"usageMetadata": {...}} found in a Gemini or Code Assist reply (or one SSE line of it) without
    parsing the whole reply: a full json.loads of a 5 MB reply holds the GIL, and so gcli2api's event loop,
    for about 14 ms. None when there is no such member or it cannot be read this way."""
    kind = bytes if isinstance(data, bytes) else str
    pos = data.rfind(_USAGE_KEY[kind])  # the last one: a stream's final totals
    if pos < 0:
        return None
    m = _USAGE_COLON[kind].match(data, pos + len(_USAGE_KEY[kind]))
    if not m:
        return None
    window = data[m.end():m.end() + _USAGE_WINDOW]
    if kind is bytes:
        window = window.decode("utf-8", "replace")
    try:
        usage, _ = json.JSONDecoder().raw_decode(window)
    except ValueError:
        return None
    return {"usageMetadata": usage} if isinstance(usage, dict) else None


def _parse_raw(data):
    """A whole reply (or one "data: {...}" SSE line) parsed: the slow path, for replies that are not
    Gemini-shaped."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    data = data.strip()
    if data.startswith("data:"):
        data = data[5:]
    return json.loads(data)


def _slim(body):
    """Keep only what locates and holds usage (and the type hints), so a whole response body with its
    candidates does not travel to Token Stats. Anything unrecognised is sent as it is: the server is the
    judge of what holds usage."""
    if isinstance(body, list):
        return [_slim(x) for x in body]
    if not isinstance(body, dict):
        return body
    out = {k: body[k] for k in ("type", "object") if k in body}
    found = False
    for k in ("usageMetadata", "usage"):
        if k in body:
            out[k] = body[k]
            found = True
    resp = body.get("response")
    if isinstance(resp, dict):
        inner = {k: resp[k] for k in ("usageMetadata", "usage", "object", "type") if k in resp}
        if "usageMetadata" in inner or "usage" in inner:
            out["response"] = inner
            found = True
    return out if found else body


def _encode(rec):
    """One record as compact JSON text (ASCII). Raises TypeError/ValueError for what cannot be encoded."""
    body = rec.get("response")
    if isinstance(body, _Raw):
        rec = dict(rec)
        rec["response"] = _usage_of_raw(body.data) or _slim(_parse_raw(body.data))
    return json.dumps(rec, separators=(",", ":"), allow_nan=False)


def _approx_size(obj):
    """Bytes a value holds, roughly; O(1) for the bodies callers pass as bytes or text."""
    if isinstance(obj, _Raw):
        return len(obj.data)
    if isinstance(obj, (str, bytes)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(len(str(k)) + _approx_size(v) + 8 for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return sum(_approx_size(v) + 8 for v in obj)
    return 8


class _Item:
    """A record in memory: the caller's dict until a background thread encodes it to its JSON line."""

    __slots__ = ("rec", "line", "size")

    def __init__(self, rec=None, line=None):
        self.rec = rec
        self.line = line
        self.size = len(line) + _RECORD_OVERHEAD if line is not None else sum(
            _approx_size(v) for v in rec.values()) + _RECORD_OVERHEAD

    def encode(self):
        """Encodes the record (once) and returns the change in its size."""
        if self.line is None:
            self.line = _encode(self.rec)
            self.rec = None
        old, self.size = self.size, len(self.line) + _RECORD_OVERHEAD
        return self.size - old

    def record(self):
        if self.rec is not None:
            return self.rec
        try:
            return json.loads(self.line)
        except ValueError:
            return self.line


# ---- errors ----------------------------------------------------------------------------------------

class TokenStatsError(Exception):
    """Token Stats refused a statistics request or could not be reached for one that changes data."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _HTTPError(Exception):
    def __init__(self, status, message, index=None):
        super().__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message
        self.index = index if index is not None else _record_index(message)

    @property
    def bad_record(self):
        # The batch's content is at fault; sending it again cannot help. 401/403/5xx are not.
        return self.status in (400, 413, 422)


class _Unreachable(Exception):
    pass


def _record_index(msg):
    """The position in "record 3: model: is required" (the text form of the server's "index")."""
    if not msg.startswith("record "):
        return None
    num, sep, _ = msg[len("record "):].partition(":")
    return int(num) if sep and num.isdigit() else None


def _http_error(e):
    """_HTTPError from urllib's HTTPError, with the server's message and "index" when it sent them."""
    index = None
    try:
        ans = json.loads(e.read())
        msg = ans.get("error") or str(e.reason)
        if isinstance(ans.get("index"), int) and not isinstance(ans.get("index"), bool) and ans["index"] >= 0:
            index = ans["index"]
    except Exception:
        msg = str(e.reason)
    return _HTTPError(e.code, msg, index)


# ---- spool claims: an flock held by the replaying process says it is alive ---------------------------

def _try_lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _same_file(fd, path):
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class _Claim:
    """A spool file this process replays: renamed to *.claimed and, where flock exists, locked until
    released, so that a claim whose process died (its lock gone with it) is taken over at once."""

    def __init__(self, path, fd):
        self.path = path
        self.fd = fd

    def read(self):
        with os.fdopen(os.dup(self.fd), "rb") as f:
            f.seek(0)
            return f.read()

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def done(self):
        """Removes the file, then lets go of the lock (so nobody locks a file that is still listed)."""
        if fcntl is None:
            self._close()
        try:
            os.remove(self.path)
        except OSError:
            pass
        self._close()

    def give_back(self):
        """Returns the file to the spool unclaimed: its records wait for the next replay."""
        if fcntl is None:
            self._close()
        try:
            os.replace(self.path, self.path[:-len(_CLAIMED_EXT)])
        except OSError:
            pass  # left claimed and unlocked: taken over at once all the same (by age on Windows)
        self._close()


def _claim(spool_dir):
    """Claims one spool file: one nobody claimed, or one whose claimer is gone. None when there is none."""
    try:
        names = sorted(os.listdir(spool_dir))
    except OSError:
        return None
    now = time.time()
    for name in names:
        path = os.path.join(spool_dir, name)
        if name.startswith("." + _SPOOL_PREFIX) and name.endswith(".tmp"):
            try:  # a half-written spill of a process that died while writing
                if now - os.stat(path).st_mtime > _STALE:
                    os.remove(path)
            except OSError:
                pass
            continue
        if not name.startswith(_SPOOL_PREFIX):
            continue
        if name.endswith(_SPOOL_EXT):
            claimed = path + _CLAIMED_EXT
            if fcntl is None:
                try:
                    os.rename(path, claimed)
                    os.utime(claimed, (now, now))  # the claim's age, for the age rule
                    return _Claim(claimed, os.open(claimed, os.O_RDONLY | getattr(os, "O_BINARY", 0)))
                except OSError:
                    continue  # another process claimed it first
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            if not _try_lock(fd):
                os.close(fd)
                continue
            try:
                os.rename(path, claimed)
            except OSError:
                os.close(fd)  # claimed and finished by another process meanwhile
                continue
            try:
                os.utime(claimed, (now, now))  # for processes that go by the age rule
            except OSError:
                pass
            return _Claim(claimed, fd)
        if name.endswith(_CLAIMED_EXT):
            if fcntl is None:
                try:
                    if now - os.stat(path).st_mtime < _STALE:
                        continue
                    os.utime(path, (now, now))
                    return _Claim(path, os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0)))
                except OSError:
                    continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            # Locked: its claimer is alive. Unlocked: it died (or has just removed it, hence the check).
            if not _try_lock(fd) or not _same_file(fd, path):
                os.close(fd)
                continue
            return _Claim(path, fd)
    return None


# ---- the recorder ------------------------------------------------------------------------------------

class Recorder:
    """Queues usage records and sends them from background threads; see the module docstring.

    Memory is bounded by max_bytes (records, their bodies included). When the queue holds more than
    queue_size records or half of max_bytes, its oldest half is handed to the spool writer; a record that
    would take memory past max_bytes (Token Stats frozen, the spool not keeping up) is dropped and
    counted."""

    def __init__(self, url=None, token=None, spool_dir=None, *, batch_size=200, batch_delay=0.2,
                 queue_size=10000, max_bytes=DEFAULT_MAX_BYTES, min_backoff=0.25, max_backoff=30.0,
                 timeout=10.0, source="gcli2api", on_drop=None):
        self.url = (url or os.environ.get("TOKENSTATS_URL") or DEFAULT_URL).rstrip("/")
        self._token = token
        self.spool_dir = spool_dir or default_spool_dir()
        self.batch_size = max(1, min(int(batch_size), 10000))
        self.batch_delay = float(batch_delay)
        self.queue_size = max(1, int(queue_size))
        self.max_bytes = max(1, int(max_bytes))
        self.min_backoff = float(min_backoff)
        self.max_backoff = max(float(max_backoff), self.min_backoff)
        self.timeout = float(timeout)
        self.source = source
        self.on_drop = on_drop
        # posts, accepted, duplicates, dropped, spooled, replayed, quarantined
        self.stats = collections.Counter()

        # One lock; the sender, the spool writer and flush() each wait on their own condition, so that
        # add() wakes nobody who has nothing to do (a woken thread costs the caller the GIL).
        self._cond = threading.Lock()
        self._send_cv = threading.Condition(self._cond)
        self._spool_cv = threading.Condition(self._cond)
        self._done_cv = threading.Condition(self._cond)
        self._queue = collections.deque()  # _Items waiting to be sent
        self._queued_bytes = 0
        self._to_spool = collections.deque()  # _Items handed to the spool writer
        self._held = 0  # bytes of every _Item in memory: queue, to_spool, in flight, being written
        self._first_at = 0.0
        self._inflight = []  # what the sender holds right now
        self._writing = []  # what the writer holds right now
        self._busy = False
        self._wbusy = False
        self._spool_check = True  # the spool may hold files (from before, or from us)
        self._retry_at = 0.0  # Token Stats failed: next attempt
        self._backoff = 0.0
        self._disk_retry_at = 0.0  # the spool failed: next attempt
        self._disk_backoff = 0.0
        self._failures = 0  # attempts that failed (send, replay or spool write), for flush
        self._flushers = 0
        self._threads = []
        self._closed = False
        self._warned = {}  # kind -> time of its last warning

    # ---- the caller's side: no network, no disk, no parsing ----------------------------------------

    def add(self, record):
        """Queue one record (a dict shaped like POST /usage) and return at once."""
        if not record.get("request_id"):
            record["request_id"] = uuid.uuid4().hex
        if not record.get("timestamp"):
            record["timestamp"] = int(time.time())  # the request's time, even when replayed later
        if self.source and not record.get("source"):
            record["source"] = self.source
        item = _Item(record)
        with self._cond:
            late = self._closed
            full = not late and self._held + item.size > self.max_bytes
            if not late and not full:
                first = not self._queue
                if first:
                    self._first_at = time.monotonic()
                self._queue.append(item)
                self._queued_bytes += item.size
                self._held += item.size
                if len(self._queue) > self.queue_size or self._queued_bytes > self.max_bytes // 2:
                    # Token Stats is not keeping up: the oldest half goes to the spool writer.
                    for _ in range(max(1, len(self._queue) // 2)):
                        old = self._queue.popleft()
                        self._queued_bytes -= old.size
                        self._to_spool.append(old)
                    self._spool_cv.notify()
                self._start()
                if first or len(self._queue) == self.batch_size:  # else its timer is already set
                    self._send_cv.notify()
                return
        if late:  # after close() (interpreter exit): nothing runs in the background any more
            self._spool_now([item])
        else:
            self._drop(item, "memory cap reached", quiet=True)

    def flush(self, timeout=5.0):
        """Send what is queued and replay the spool. True when every record was delivered and no spool
        file is left that this process could replay; False when an attempt failed (what was not sent is
        in the spool, or in memory while the spool cannot be written) or timeout seconds passed."""
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._cond:
            if self._closed:
                return False
            self._flushers += 1
            self._retry_at = self._disk_retry_at = 0.0  # try now, whatever the backoff says
            failures = self._failures
            self._start()
            self._send_cv.notify()
            self._spool_cv.notify()
            try:
                while True:
                    idle = not self._busy and not self._wbusy
                    if idle and not self._queue and not self._to_spool and not self._spool_check:
                        return True
                    if idle and self._failures != failures and (
                            not self._to_spool or self._disk_retry_at > time.monotonic()):
                        return False
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._done_cv.wait(left)
            finally:
                self._flushers -= 1

    def close(self, timeout=2.0):
        """Flush, then spool whatever is left, in flight too (request ids make a second delivery
        harmless). Registered with atexit for the default recorder."""
        ok = self.flush(timeout)
        with self._cond:
            self._closed = True
            left = list(self._inflight) + list(self._queue) + list(self._to_spool)
            if self._wbusy:
                left += self._writing
            self._queue.clear()
            self._to_spool.clear()
            self._queued_bytes = self._held = 0
            for cv in (self._send_cv, self._spool_cv, self._done_cv):
                cv.notify_all()
        if left:
            self._spool_now(left)
        return ok

    # ---- background threads --------------------------------------------------------------------------

    def _start(self):
        if self._closed or (self._threads and all(t.is_alive() for t in self._threads)):
            return
        self._threads = [threading.Thread(target=self._send_loop, name="token-stats", daemon=True),
                         threading.Thread(target=self._spool_loop, name="token-stats-spool", daemon=True)]
        for t in self._threads:
            t.start()

    def _warn(self, kind, msg, *args):
        now = time.monotonic()
        if now - self._warned.get(kind, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned[kind] = now
            log.warning(msg, *args)

    def _next(self):
        """Under the lock: "send", "divert" or "replay", or (None, seconds to wait or None)."""
        now = time.monotonic()
        waits = []
        if self._queue:
            due_at = now if (len(self._queue) >= self.batch_size or self._flushers) else self._first_at + self.batch_delay
            if due_at > now:
                waits.append(due_at)
            elif now >= self._retry_at:
                return "send", None
            elif now >= self._disk_retry_at:
                return "divert", None  # Token Stats is known to be down: to the spool, without a try
            else:
                waits.append(min(self._retry_at, self._disk_retry_at))
        if self._spool_check:
            if now >= self._retry_at:
                return "replay", None
            waits.append(self._retry_at)
        return None, (min(waits) - now if waits else None)

    def _take(self):
        n = min(len(self._queue), self.batch_size)
        batch = [self._queue.popleft() for _ in range(n)]
        self._queued_bytes -= sum(it.size for it in batch)
        if self._queue:
            self._first_at = 0.0  # the rest has waited long enough
        return batch

    def _send_loop(self):
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    action, wait = self._next()
                    if action == "divert":
                        self._to_spool.extend(self._take())
                        self._spool_cv.notify()
                        continue
                    if action:
                        break
                    self._send_cv.wait(wait)
                self._inflight = self._take() if action == "send" else []
                self._busy = True
            ok = True
            try:
                if action == "send":
                    ok = self._send(self._inflight)
                else:
                    ok = self._replay_one()
            except Exception:  # never let the thread die: gcli2api would silently stop recording
                log.exception("token_stats: unexpected error; the records stay queued")
                with self._cond:
                    self._to_spool.extend(self._inflight)
                ok = False
            with self._cond:
                if ok:
                    self._backoff = 0.0
                else:
                    self._failures += 1
                    self._backoff = min(max(self._backoff * 2, self.min_backoff), self.max_backoff)
                    self._retry_at = time.monotonic() + self._backoff
                self._inflight = []
                self._busy = False
                self._done_cv.notify_all()

    def _encode_all(self, items):
        """Encodes items (dropping what cannot be); returns those encoded and the change in bytes held."""
        good, delta = [], 0
        for it in items:
            try:
                delta += it.encode()
                good.append(it)
            except (TypeError, ValueError) as e:  # UnicodeDecodeError is a ValueError
                delta -= it.size
                self._drop(it, "cannot encode as JSON: %s" % e)
        return good, delta

    def _send(self, batch):
        """Delivers a batch; what could not be sent goes to the spool writer. True when all went."""
        good, delta = self._encode_all(batch)
        rest = self._deliver([it.line for it in good])
        by_line = {id(it.line): it for it in good}  # _deliver hands back the very line objects
        unsent = [by_line[id(line)] for line in rest]
        gone = sum(it.size for it in good) - sum(it.size for it in unsent)
        with self._cond:
            self._held += delta - gone
            self._to_spool.extend(unsent)
            if unsent:
                self._spool_cv.notify()
            if not rest:
                self._spool_check = True  # Token Stats answers: replay what waits
        return not rest

    def _spool_loop(self):
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if self._to_spool and now >= self._disk_retry_at:
                        break
                    self._spool_cv.wait(self._disk_retry_at - now if self._to_spool else None)
                self._writing = list(self._to_spool)
                self._to_spool.clear()
                self._wbusy = True
            good, delta = self._encode_all(self._writing)
            ok = self._write_spool([it.line for it in good])
            with self._cond:
                self._held += delta
                if ok:
                    self._held -= sum(it.size for it in good)
                    self.stats["spooled"] += len(good)
                    self._spool_check = True
                    self._disk_backoff = 0.0
                else:
                    # Kept in memory (encoded, so small) for the sender; the disk is tried again later.
                    self._failures += 1
                    self._queue.extendleft(reversed(good))
                    self._queued_bytes += sum(it.size for it in good)
                    if not self._first_at:
                        self._first_at = time.monotonic()
                    self._disk_backoff = min(max(self._disk_backoff * 2, self.min_backoff), self.max_backoff)
                    self._disk_retry_at = time.monotonic() + self._disk_backoff
                self._writing = []
                self._wbusy = False
                self._send_cv.notify()  # a spool file to replay, or records back in the queue
                self._done_cv.notify_all()

    def _spool_now(self, items):
        """Writes items on the calling thread: only at close() and after it, when nothing runs behind."""
        lines = [it.line for it in self._encode_all(items)[0]]
        if self._write_spool(lines):
            self.stats["spooled"] += len(lines)
        elif lines:
            self.stats["dropped"] += len(lines)
            log.error("token_stats: %d records lost at exit: the spool in %s cannot be written",
                      len(lines), self.spool_dir)

    # ---- Token Stats ---------------------------------------------------------------------------------

    def _token_now(self):
        return self._token or load_token()

    def _post(self, lines):
        token = self._token_now()
        if not token:
            raise _HTTPError(401, "there is no token: TOKENSTATS_TOKEN is not set and Token Stats' data folder "
                             "has no token file")
        body = ("[" + ",".join(lines) + "]").encode("utf-8")
        req = urllib.request.Request(self.url + "/usage", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + token})
        self.stats["posts"] += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise _http_error(e) from None
        self.stats["accepted"] += int(answer.get("accepted", 0))
        self.stats["duplicates"] += int(answer.get("duplicates", 0))

    def _deliver(self, lines):
        """Sends encoded records; returns the tail not delivered ([] when all went, or bad ones were
        dropped). Records the server refuses as invalid are dropped."""
        while lines:
            try:
                self._post(lines)
                return []
            except _HTTPError as e:
                if not e.bad_record:
                    if e.status in (401, 403):
                        self._warn("auth", "token_stats: Token Stats at %s refused the records (HTTP %d: %s); they "
                                   "wait in the spool. Set TOKENSTATS_TOKEN in gcli2api's environment to what "
                                   "`tokenstats token` prints, or TOKENSTATS_DATA_DIR to Token Stats' data folder.",
                                   self.url, e.status, e.message)
                    else:
                        self._warn("http", "token_stats: Token Stats at %s answered HTTP %d: %s; records wait in "
                                   "the spool", self.url, e.status, e.message)
                    return lines
                # The server names the first bad record ("index", or "record 3: …"); else bisect.
                idx = e.index
                if idx is not None and idx < len(lines) and len(lines) > 1:
                    self._drop_line(lines[idx], e.message)
                    lines = lines[:idx] + lines[idx + 1:]
                    continue
                if len(lines) == 1:
                    self._drop_line(lines[0], e.message)
                    return []
                mid = len(lines) // 2
                rest = self._deliver(lines[:mid])
                if rest:
                    return rest + lines[mid:]
                lines = lines[mid:]
            except (OSError, ValueError) as e:  # URLError, timeouts, refused connections, bad answers
                log.debug("token_stats: Token Stats unreachable at %s: %s", self.url, e)
                return lines
        return []

    def _drop_line(self, line, why):
        self._drop(_Item(line=line), why)

    def _drop(self, item, why, quiet=False):
        """Counts a record that is given up, and tells on_drop, or the log: each one, or when quiet (the
        memory cap, which drops many at once) once a minute with the count so far."""
        with self._cond:
            self.stats["dropped"] += 1
        rec = item.record()
        if self.on_drop:
            try:
                self.on_drop(rec, why)
            except Exception:
                log.exception("token_stats: on_drop failed")
        elif quiet:
            self._warn("cap", "token_stats: records dropped (%d so far): %d bytes of records wait in memory, the "
                       "cap, while Token Stats at %s does not take them and the spool in %s does not keep up",
                       self.stats["dropped"], self.max_bytes, self.url, self.spool_dir)
        else:
            log.warning("token_stats: record dropped: %s (request_id %s)", why,
                        rec.get("request_id") if isinstance(rec, dict) else None)

    # ---- the spool: one whole file per spill, written then renamed, so no reader sees half of one ----

    def _write_spool(self, lines):
        """Writes lines to a new spool file; False (nothing left behind) when the disk refuses."""
        if not lines:
            return True
        name = "%s%d-%s%s" % (_SPOOL_PREFIX, time.time_ns(), uuid.uuid4().hex[:8], _SPOOL_EXT)
        tmp = os.path.join(self.spool_dir, ".%s.tmp" % name)
        try:
            os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            try:
                # In pieces of about 64 KiB: a copy of all of it would double the memory held.
                piece, n = [], 0
                for i, line in enumerate(lines):
                    piece.append(line.encode("utf-8") + b"\n")
                    n += len(piece[-1])
                    if n >= 64 << 10 or i == len(lines) - 1:
                        view = memoryview(b"".join(piece))
                        while view:
                            view = view[os.write(fd, view):]
                        piece, n = [], 0
            finally:
                os.close(fd)
            os.replace(tmp, os.path.join(self.spool_dir, name))
            return True
        except OSError as e:
            try:
                os.remove(tmp)
            except OSError:
                pass
            self._warn("disk", "token_stats: cannot write the spool in %s (%s); %d bytes of records kept in "
                       "memory meanwhile (cap %d)", self.spool_dir, e, self._held, self.max_bytes)
            return False

    def _quarantine(self, claim, bad):
        """Keeps unreadable lines byte for byte in spool-….bad (never replayed) and says where."""
        base = os.path.basename(claim.path)[:-len(_CLAIMED_EXT)]
        if base.endswith(_SPOOL_EXT):
            base = base[:-len(_SPOOL_EXT)]
        path = os.path.join(self.spool_dir, base + _BAD_EXT)
        try:
            with open(path, "ab") as f:
                f.write(b"".join(line + b"\n" for line in bad))
        except OSError as e:
            log.error("token_stats: cannot set aside %d unreadable spool lines in %s: %s", len(bad), path, e)
            return False
        self.stats["quarantined"] += len(bad)
        log.warning("token_stats: %d unreadable lines of a spool file set aside in %s", len(bad), path)
        return True

    def _replay_one(self):
        """Sends one spool file; True when it went (or there was none)."""
        claim = _claim(self.spool_dir)
        if claim is None:
            with self._cond:
                self._spool_check = False
            return True
        try:
            data = claim.read()
        except OSError as e:
            log.error("token_stats: cannot read spool file %s: %s", claim.path, e)
            claim.give_back()
            return False
        lines, bad = [], []
        for raw in data.split(b"\n"):
            raw = raw.strip()
            if not raw:
                continue
            try:
                text = raw.decode("utf-8")
                if not isinstance(json.loads(text), dict):
                    raise ValueError("not a JSON object")
                lines.append(text)
            except ValueError:  # UnicodeDecodeError is one
                bad.append(raw)
        if bad and not self._quarantine(claim, bad):
            claim.give_back()
            return False
        rest = []
        while lines:
            chunk, lines = lines[:self.batch_size], lines[self.batch_size:]
            rest = self._deliver(chunk)
            if rest:
                rest += lines
                break
            self.stats["replayed"] += len(chunk)
        if rest and not self._write_spool(rest):
            claim.give_back()  # kept whole: what went already comes back as duplicates, not losses
            return False
        claim.done()
        return not rest


# ---- the module API gcli2api calls ---------------------------------------------------------------

_default = None
_default_lock = threading.Lock()


def _recorder():
    global _default
    r = _default
    if r is None:
        with _default_lock:
            if _default is None:
                _default = Recorder()
                atexit.register(_default.close)
            r = _default
    return r


def _reset_default():
    """Forget the default recorder (tests; or after changing TOKENSTATS_* variables)."""
    global _default
    with _default_lock:
        old, _default = _default, None
    if old is not None:
        atexit.unregister(old.close)
        old.close(0.5)


def record_usage_nowait(account_email, model, input_tokens, output_tokens, credential_file=None,
                        is_antigravity=True, *, cached_tokens=0, reasoning_tokens=0, request_id=None):
    """record_usage for code that is not async."""
    rec = {
        "account_email": account_email or "unknown",
        "model": model or "unknown",
        "input_tokens": int(input_tokens or 0),
        "output_tokens": int(output_tokens or 0),
        "is_antigravity": bool(is_antigravity),
    }
    if cached_tokens:
        rec["cached_tokens"] = int(cached_tokens)
    if reasoning_tokens:
        rec["reasoning_tokens"] = int(reasoning_tokens)
    if credential_file:
        rec["credential_file"] = str(credential_file)
    if request_id:
        rec["request_id"] = str(request_id)
    _recorder().add(rec)


async def record_usage(account_email, model, input_tokens, output_tokens, credential_file=None,
                       is_antigravity=True, *, cached_tokens=0, reasoning_tokens=0, request_id=None):
    """Record one request's usage (the origin design's signature). Returns at once: input includes
    cached tokens, output includes reasoning tokens."""
    record_usage_nowait(account_email, model, input_tokens, output_tokens, credential_file, is_antigravity,
                        cached_tokens=cached_tokens, reasoning_tokens=reasoning_tokens, request_id=request_id)


_FROM_RESPONSE_KW = {"provider", "credential_file", "is_antigravity", "request_id", "source", "timestamp"} | set(_TOKEN_FIELDS)


def record_usage_from_response(account_email, model, response_or_usage, **kw):
    """Record usage straight from what the upstream returned: its reply as bytes or text (a Gemini or
    Code Assist reply, or one "data: {...}" line of its stream), a usageMetadata dict, the envelope
    {"response": {...}}, an OpenAI/Anthropic usage or response. Token Stats normalises it
    (docs/usage-normalization.md). Keyword arguments: provider, credential_file, is_antigravity,
    request_id, and explicit token counts (which win). Returns at once: bytes and text are neither
    decoded nor parsed here but by a background thread, so do not modify the object afterwards. A reply
    that is not JSON is logged and dropped there."""
    unknown = set(kw) - _FROM_RESPONSE_KW
    if unknown:
        raise TypeError("record_usage_from_response: unexpected keyword %s" % ", ".join(sorted(unknown)))
    body = response_or_usage
    if isinstance(body, (bytes, str)):
        body = _Raw(body)
    elif isinstance(body, (bytearray, memoryview)):
        body = _Raw(bytes(body))  # a copy: the caller may reuse its buffer
    elif hasattr(body, "model_dump"):  # a pydantic model
        body = body.model_dump(exclude_none=True)
    elif isinstance(body, dict):
        body = _slim(body)  # picks members only: keeps a whole reply's candidates out of memory
    rec = {"account_email": account_email or "unknown", "model": model or "unknown", "response": body}
    for k, v in kw.items():
        if v is not None:
            rec[k] = v
    _recorder().add(rec)


async def record_usage_from_stream(stream, account_email, model, **kw):
    """Pass a Gemini/Code Assist stream through unchanged and record its usage when it ends.

        async for chunk in token_stats.record_usage_from_stream(stream_post_async(...), email, model,
                                                                credential_file=current_file):

    Chunks are the stream's lines as text or bytes (gcli2api's native=False lines, "data: {...}");
    anything else (gcli2api's error Response objects) passes untouched. The last line carrying
    usageMetadata holds the final totals; it is recorded (keyword arguments as for
    record_usage_from_response) when the stream ends, also when it ends early, because the client went
    away or the upstream broke off: what was produced until then is counted. Per line the only work is a
    substring test."""
    last = None
    try:
        async for chunk in stream:
            if isinstance(chunk, str):
                if '"usageMetadata"' in chunk:
                    last = chunk
            elif isinstance(chunk, bytes) and b'"usageMetadata"' in chunk:
                last = chunk
            yield chunk
    finally:
        if last is not None:
            record_usage_from_response(account_email, model, last, **kw)


def flush(timeout=5.0):
    """Block until queued records are sent and the spool replayed (True), or an attempt failed or
    timeout seconds passed (False; undelivered records stay in the spool)."""
    return _recorder().flush(timeout)


# ---- reading statistics: the origin module's functions, answered by Token Stats' /stats/* API -------
#
# Reads that cannot reach Token Stats (not running, wrong token, 5xx) log a warning (once a minute) and
# return the empty shape, so a port's routes answer 200 with zeros instead of 500. A request Token Stats
# refuses as invalid (400, e.g. hours=0) raises TokenStatsError with its message. clear_stats raises on
# any failure: a clear that did not happen must not be reported as done.

@dataclasses.dataclass
class TokenStatsSummary:
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_tokens: int = 0
    total_requests: int = 0
    unique_accounts: int = 0
    unique_models: int = 0
    total_cached_tokens: int = 0
    total_reasoning_tokens: int = 0
    total_cache_creation_tokens: int = 0


@dataclasses.dataclass
class ModelTokenStats:
    model: str
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_tokens: int = 0
    request_count: int = 0
    total_cached_tokens: int = 0
    total_reasoning_tokens: int = 0
    total_cache_creation_tokens: int = 0


@dataclasses.dataclass
class AccountTokenStats:
    account_email: str
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    total_tokens: int = 0
    request_count: int = 0
    total_cached_tokens: int = 0
    total_reasoning_tokens: int = 0
    total_cache_creation_tokens: int = 0


@dataclasses.dataclass
class TrendPoint:
    period: str  # "2026-01-22 16:00" (hourly) or "2026-01-22" (daily), in Token Stats' time zone
    data: dict  # model or account -> total tokens


def _from_json(cls, obj):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in obj.items() if k in names})


def _call(method, path, params=None, auth=True):
    """One request to Token Stats (blocking: run it in a thread). Returns the status, body and content
    type of any answer; raises _Unreachable when there is none."""
    r = _recorder()
    url = r.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {}
    if auth:
        token = r._token_now()
        if not token:
            raise _Unreachable("no Token Stats token (set TOKENSTATS_TOKEN, or TOKENSTATS_DATA_DIR to its data folder)")
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=r.timeout) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "application/json")
    except urllib.error.HTTPError as e:
        try:
            return e.code, e.read(), e.headers.get("Content-Type", "application/json")
        finally:
            e.close()
    except (OSError, ValueError) as e:
        raise _Unreachable("%s: %s" % (r.url, e)) from None


def _json_call(method, path, params=None):
    status, body, _ = _call(method, path, params)
    try:
        ans = json.loads(body)
    except ValueError:
        raise _Unreachable("%s answered %d with something other than JSON (is it Token Stats?)" % (
            _recorder().url, status)) from None
    if status // 100 != 2:
        raise _HTTPError(status, str(ans.get("error") or body[:200]))
    return ans


async def _read(path, params, empty):
    try:
        ans = await asyncio.to_thread(_json_call, "GET", path, params)
    except _HTTPError as e:
        if e.status == 400:
            raise TokenStatsError("Token Stats refused %s: %s" % (path, e.message), 400) from None
        _recorder()._warn("read", "token_stats: statistics read as empty: Token Stats answered HTTP %d: %s%s",
                          e.status, e.message, " (set TOKENSTATS_TOKEN to what `tokenstats token` prints)"
                          if e.status in (401, 403) else "")
        return empty
    except _Unreachable as e:
        _recorder()._warn("read", "token_stats: statistics read as empty: Token Stats does not answer (%s)", e)
        return empty
    if "data" not in ans and path != "/stats/db-info":
        _recorder()._warn("read", "token_stats: statistics read as empty: %s answered %s without data (is it "
                          "Token Stats?)", _recorder().url, path)
        return empty
    return ans


async def init_db():
    """The origin creates its SQLite file here. Token Stats keeps the data, so this only checks that it
    answers and says so in the log. Never raises."""
    try:
        status, body, _ = await asyncio.to_thread(_call, "GET", "/healthz", None, False)
        version = json.loads(body).get("version", "?") if status == 200 else None
    except (_Unreachable, ValueError, AttributeError) as e:
        log.warning("token_stats: Token Stats does not answer (%s); usage is spooled until it does", e)
        return
    if version is None:
        log.warning("token_stats: %s answered /healthz with HTTP %d: is it Token Stats?", _recorder().url, status)
    elif not _recorder()._token_now():
        log.warning("token_stats: Token Stats %s answers at %s, but there is no token: set TOKENSTATS_TOKEN to "
                    "what `tokenstats token` prints", version, _recorder().url)
    else:
        log.info("token_stats: Token Stats %s at %s", version, _recorder().url)


async def get_summary_stats(hours: int = 24) -> TokenStatsSummary:
    ans = await _read("/stats/summary", {"hours": int(hours)}, None)
    return _from_json(TokenStatsSummary, ans["data"]) if ans else TokenStatsSummary()


async def get_model_stats(hours: int = 24) -> list:
    ans = await _read("/stats/by-model", {"hours": int(hours)}, None)
    return [_from_json(ModelTokenStats, x) for x in ans["data"]] if ans else []


async def get_account_stats(hours: int = 24) -> list:
    ans = await _read("/stats/by-account", {"hours": int(hours)}, None)
    return [_from_json(AccountTokenStats, x) for x in ans["data"]] if ans else []


async def _trend(kind, hours, granularity):
    ans = await _read("/stats/trend/" + kind, {"hours": int(hours), "granularity": granularity}, None)
    return [TrendPoint(period=p["period"], data=p["data"]) for p in ans["data"]] if ans else []


async def get_model_trend_hourly(hours: int = 24) -> list:
    """Hourly points, oldest first, covering the whole window (empty hours too); at most 744 hours."""
    return await _trend("model", hours, "hourly")


async def get_account_trend_hourly(hours: int = 24) -> list:
    return await _trend("account", hours, "hourly")


async def get_model_trend_daily(days: int = 7) -> list:
    """Daily points for the last days whole days, oldest first."""
    return await _trend("model", int(days) * 24, "daily")


async def clear_stats(before_hours: int = None) -> int:
    """Deletes Token Stats' records: all of them when before_hours is None or 0 (as in the origin), else
    those older than before_hours hours. Token Stats holds every tool's usage, not only gcli2api's.
    Returns how many records went; raises TokenStatsError when nothing was cleared."""
    params = {"before_hours": int(before_hours)} if before_hours else None
    try:
        ans = await asyncio.to_thread(_json_call, "DELETE", "/stats/clear", params)
    except _HTTPError as e:
        raise TokenStatsError("Token Stats did not clear: HTTP %d: %s" % (e.status, e.message), e.status) from None
    except _Unreachable as e:
        raise TokenStatsError("Token Stats did not clear: it does not answer (%s)" % e) from None
    return int(ans.get("deleted", 0))


async def get_stats_db_size() -> int:
    """Bytes of Token Stats' database file and its write-ahead log; 0 when it does not answer."""
    ans = await _read("/stats/db-info", None, None)
    return int(ans.get("db_size_bytes", 0)) if ans else 0


async def forward_stats(method, path, query=""):
    """Pass a panel's request for /stats/… to Token Stats with its token, and return its answer
    unchanged as (status, body bytes, content type). For a same-origin route in gcli2api, so the
    browser never sees Token Stats' token. When Token Stats does not answer: 502 with a JSON error."""
    if not path.startswith("/stats/") or ".." in path:
        raise ValueError("forward_stats forwards /stats/… only, not %r" % path)
    params = urllib.parse.parse_qsl(query or "", keep_blank_values=True)
    try:
        return await asyncio.to_thread(_call, method.upper(), path, params)
    except _Unreachable as e:
        body = json.dumps({"success": False, "error": "Token Stats does not answer: %s" % e}).encode()
        return 502, body, "application/json"

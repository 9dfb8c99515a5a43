"""Token Stats drop-in for gcli2api: record token usage without slowing requests.

Copy this one file into gcli2api (standard library only) and call, after each upstream reply:

    from token_stats import record_usage, record_usage_from_response

    await record_usage(account_email, model, input_tokens, output_tokens, credential_file)
    record_usage_from_response(account_email, model, usage_metadata_or_response)

Calls only put the record on an in-memory queue and return (microseconds). A background daemon thread
batches records and POSTs them to Token Stats (TOKENSTATS_URL, default http://127.0.0.1:8788, path
/usage) with the token from TOKENSTATS_TOKEN or the token file Token Stats keeps in its data folder.
While Token Stats is not running, records go to a spool folder (TOKENSTATS_SPOOL_DIR, default a per-user
folder) and are replayed, once each, when it answers again or on the next flush(). Every record carries a
request id (generated when missing), so a replay never counts a request twice.
"""

import atexit
import collections
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

__all__ = [
    "record_usage",
    "record_usage_nowait",
    "record_usage_from_response",
    "flush",
    "Recorder",
]

DEFAULT_URL = "http://127.0.0.1:8788"
log = logging.getLogger("token_stats")

_SPOOL_PREFIX = "spool-"
_SPOOL_EXT = ".jsonl"
_CLAIMED_EXT = ".claimed"
_STALE_CLAIM = 600.0  # seconds: a claim this old belongs to a process that died mid-replay
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


class _RawJSON:
    """JSON text handed to record_usage_from_response: parsed by the background thread, not the caller."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


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
    """One record as compact JSON (raises TypeError/ValueError for what cannot be encoded)."""
    body = rec.get("response")
    if isinstance(body, _RawJSON):
        rec = dict(rec)
        rec["response"] = json.loads(body.text)
        body = rec["response"]
    if body is not None:
        rec = dict(rec)
        rec["response"] = _slim(body)
    return json.dumps(rec, separators=(",", ":"), allow_nan=False)


class _HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message

    @property
    def bad_record(self):
        # The batch's content is at fault; sending it again cannot help. 401/403/5xx are not.
        return self.status in (400, 413, 422)


class Recorder:
    """Queues usage records and sends them from a background thread; see the module docstring."""

    def __init__(self, url=None, token=None, spool_dir=None, *, batch_size=200, batch_delay=0.2,
                 queue_size=10000, min_backoff=0.25, max_backoff=30.0, timeout=10.0, source="gcli2api",
                 on_drop=None):
        self.url = (url or os.environ.get("TOKENSTATS_URL") or DEFAULT_URL).rstrip("/")
        self._token = token
        self.spool_dir = spool_dir or default_spool_dir()
        self.batch_size = max(1, min(int(batch_size), 10000))
        self.batch_delay = float(batch_delay)
        self.queue_size = max(1, int(queue_size))
        self.min_backoff = float(min_backoff)
        self.max_backoff = max(float(max_backoff), self.min_backoff)
        self.timeout = float(timeout)
        self.source = source
        self.on_drop = on_drop
        self.stats = collections.Counter()  # posts, accepted, duplicates, dropped, spooled, replayed

        self._cond = threading.Condition(threading.Lock())
        self._queue = collections.deque()
        self._first_at = 0.0
        self._inflight = []  # records being sent right now (kept for the exit spool)
        self._busy = False
        self._spool_check = True  # the spool may hold files (from before, or from us)
        self._retry_at = 0.0
        self._backoff = 0.0
        self._flushers = 0
        self._thread = None
        self._closed = False
        self._spool_lock = threading.Lock()

    # ---- the caller's side: never touches the network -------------------------------------------

    def add(self, record):
        """Queue one record (a dict shaped like POST /usage) and return at once."""
        if not record.get("request_id"):
            record["request_id"] = uuid.uuid4().hex
        if not record.get("timestamp"):
            record["timestamp"] = int(time.time())  # the request's time, even when replayed later
        if self.source and not record.get("source"):
            record["source"] = self.source
        overflow = None
        with self._cond:
            if self._closed:
                overflow = [record]
            else:
                if not self._queue:
                    self._first_at = time.monotonic()
                if len(self._queue) >= self.queue_size:
                    # Full (the app is down and the disk is slow, or a flood): the oldest half goes to
                    # the spool, not to the floor.
                    overflow = [self._queue.popleft() for _ in range(max(1, self.queue_size // 2))]
                self._queue.append(record)
                self._start()
                self._cond.notify_all()
        if overflow:
            self._spill(overflow)

    def flush(self, timeout=5.0):
        """Send what is queued and replay the spool; True when everything was delivered. What cannot be
        sent stays in the spool. Blocks at most timeout seconds."""
        deadline = time.monotonic() + max(0.0, float(timeout))
        with self._cond:
            self._flushers += 1
            self._retry_at = 0.0  # try now, whatever the backoff says
            self._start()
            self._cond.notify_all()
            try:
                while True:
                    if not self._queue and not self._busy:
                        if not self._spool_check:
                            return True
                        if self._retry_at > time.monotonic():
                            return False  # an attempt made since flush began failed
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._flushers -= 1

    def close(self, timeout=2.0):
        """Flush, then spool whatever is left (also what is in flight: request ids make a second
        delivery harmless). Registered with atexit for the default recorder."""
        ok = self.flush(timeout)
        with self._cond:
            self._closed = True
            left = list(self._inflight) + list(self._queue)
            self._queue.clear()
        if left:
            self._spill(left)
        return ok

    # ---- the background thread ---------------------------------------------------------------------

    def _start(self):
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="token-stats", daemon=True)
            self._thread.start()

    def _next(self):
        """Under the lock: ("send"|"spill"|"replay", None) or (None, seconds to wait or None)."""
        now = time.monotonic()
        if self._queue:
            due = (len(self._queue) >= self.batch_size or self._flushers > 0
                   or now - self._first_at >= self.batch_delay)
            if not due:
                return None, self._first_at + self.batch_delay - now
            # While the app is known to be down, batches go straight to the spool.
            return ("spill" if now < self._retry_at else "send"), None
        if self._spool_check:
            if now >= self._retry_at:
                return "replay", None
            return None, self._retry_at - now
        return None, None

    def _run(self):
        while True:
            with self._cond:
                while True:
                    action, wait = self._next()
                    if action:
                        break
                    self._cond.wait(wait)
                batch = []
                if action != "replay":
                    n = min(len(self._queue), self.batch_size)
                    batch = [self._queue.popleft() for _ in range(n)]
                    if self._queue:
                        self._first_at = 0.0
                self._inflight = batch
                self._busy = True
            ok = True
            try:
                if action == "spill":
                    self._spill(batch)
                elif action == "send":
                    rest = self._deliver(batch)
                    if rest:
                        self._spill(rest)
                        ok = False
                    else:
                        with self._cond:
                            self._spool_check = True  # the app answers: replay what waits
                else:
                    ok = self._replay_one()
            except Exception:  # never let the thread die: gcli2api would silently stop recording
                log.exception("token_stats: unexpected error; records kept in the spool")
                if batch:
                    self._spill(batch)
                ok = False
            with self._cond:
                if action != "spill":
                    if ok:
                        self._backoff = 0.0
                    else:
                        self._backoff = min(max(self._backoff * 2, self.min_backoff), self.max_backoff)
                        self._retry_at = time.monotonic() + self._backoff
                self._inflight = []
                self._busy = False
                self._cond.notify_all()

    def _token_now(self):
        return self._token or load_token()

    def _post(self, records):
        token = self._token_now()
        if not token:
            raise OSError("no Token Stats token yet (set TOKENSTATS_TOKEN, or start Token Stats once)")
        body = ("[" + ",".join(records) + "]").encode("utf-8")
        req = urllib.request.Request(self.url + "/usage", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + token})
        self.stats["posts"] += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error") or e.reason
            except Exception:
                msg = str(e.reason)
            raise _HTTPError(e.code, msg) from None
        self.stats["accepted"] += int(answer.get("accepted", 0))
        self.stats["duplicates"] += int(answer.get("duplicates", 0))

    def _deliver(self, batch):
        """Send records; returns those not delivered ([] when all went, or bad ones were dropped)."""
        encoded = []
        for rec in batch:
            try:
                encoded.append((rec, _encode(rec)))
            except (TypeError, ValueError) as e:
                self._drop(rec, "cannot encode as JSON: %s" % e)
        return [rec for rec, _ in self._deliver_encoded(encoded)]

    def _deliver_encoded(self, items):
        while items:
            try:
                self._post([s for _, s in items])
                return []
            except _HTTPError as e:
                if not e.bad_record:
                    log.debug("token_stats: %s", e)
                    return items
                # The server names the first bad record ("record 3: model: is required"); else bisect.
                idx = _record_index(e.message)
                if idx is not None and idx < len(items) and len(items) > 1:
                    self._drop(items[idx][0], e.message)
                    items = items[:idx] + items[idx + 1:]
                    continue
                if len(items) == 1:
                    self._drop(items[0][0], e.message)
                    return []
                mid = len(items) // 2
                rest = self._deliver_encoded(items[:mid])
                if rest:
                    return rest + items[mid:]
                items = items[mid:]
            except (OSError, ValueError) as e:  # URLError, timeouts, refused connections, bad answers
                log.debug("token_stats: Token Stats unreachable at %s: %s", self.url, e)
                return items
        return []

    def _drop(self, rec, why):
        self.stats["dropped"] += 1
        if self.on_drop:
            try:
                self.on_drop(rec, why)
            except Exception:
                log.exception("token_stats: on_drop failed")
            return
        log.warning("token_stats: Token Stats refused a record (dropped): %s (request_id %s)", why,
                    rec.get("request_id") if isinstance(rec, dict) else None)

    # ---- the spool: one whole file per spill, written then renamed, so no reader sees half of one ----

    def _spill(self, records):
        lines = []
        for rec in records:
            try:
                lines.append(_encode(rec))
            except (TypeError, ValueError) as e:
                self._drop(rec, "cannot encode as JSON: %s" % e)
        if not lines:
            return
        name = "%s%d-%s" % (_SPOOL_PREFIX, time.time_ns(), uuid.uuid4().hex[:8])
        try:
            os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
            tmp = os.path.join(self.spool_dir, "." + name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, os.path.join(self.spool_dir, name + _SPOOL_EXT))
        except OSError as e:
            log.error("token_stats: cannot write the spool in %s (%s); %d records lost", self.spool_dir, e, len(lines))
            self.stats["dropped"] += len(lines)
            return
        self.stats["spooled"] += len(lines)
        with self._cond:
            self._spool_check = True

    def _claim(self):
        try:
            names = sorted(os.listdir(self.spool_dir))
        except FileNotFoundError:
            return None
        now = time.time()
        for name in names:
            if not name.startswith(_SPOOL_PREFIX):
                continue
            path = os.path.join(self.spool_dir, name)
            if name.endswith(_SPOOL_EXT):
                try:
                    os.rename(path, path + _CLAIMED_EXT)
                except OSError:
                    continue  # another process claimed it first
                os.utime(path + _CLAIMED_EXT, (now, now))
                return path + _CLAIMED_EXT
            if name.endswith(_CLAIMED_EXT):
                try:
                    if now - os.stat(path).st_mtime < _STALE_CLAIM:
                        continue
                    os.utime(path, (now, now))
                except OSError:
                    continue
                return path
        return None

    def _replay_one(self):
        """Send one spool file; True when it went (or there was none)."""
        with self._spool_lock:
            path = self._claim()
            if path is None:
                with self._cond:
                    self._spool_check = False
                return True
            items = []
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        line = line.strip()
                        if line:
                            try:
                                items.append((json.loads(line), line))
                            except ValueError:
                                log.warning("token_stats: skipped a damaged spool line in %s", path)
            except OSError as e:
                log.error("token_stats: unreadable spool file %s set aside: %s", path, e)
                os.replace(path, path + ".unreadable")
                return True
            rest = []
            while items:
                chunk, items = items[:self.batch_size], items[self.batch_size:]
                rest = self._deliver_encoded(chunk)
                if rest:
                    rest += items
                    break
                self.stats["replayed"] += len(chunk)
            if rest:
                self._spill([rec for rec, _ in rest])
                self.stats["spooled"] -= len(rest)  # moved, not new
            try:
                os.remove(path)
            except OSError:
                pass
            return not rest


def _record_index(msg):
    if not msg.startswith("record "):
        return None
    num, sep, _ = msg[len("record "):].partition(":")
    return int(num) if sep and num.isdigit() else None


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
    """Record usage straight from what the upstream returned: a Gemini usageMetadata, the Gemini CLI
    envelope {"response": {...}}, an OpenAI/Anthropic usage or response, or their JSON text. Token Stats
    normalises it (docs/usage-normalization.md). Keyword arguments: provider, credential_file,
    is_antigravity, request_id, and explicit token counts (which win). Returns at once: JSON text is
    parsed, and a whole response trimmed to its usage, by the background thread; so do not modify the
    object afterwards. Text that is not JSON is logged and dropped there."""
    unknown = set(kw) - _FROM_RESPONSE_KW
    if unknown:
        raise TypeError("record_usage_from_response: unexpected keyword %s" % ", ".join(sorted(unknown)))
    body = response_or_usage
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = _RawJSON(bytes(body).decode("utf-8", "replace"))
    elif isinstance(body, str):
        body = _RawJSON(body)  # parsed in the background, off the request path
    elif hasattr(body, "model_dump"):  # a pydantic model
        body = body.model_dump(exclude_none=True)
    rec = {"account_email": account_email or "unknown", "model": model or "unknown", "response": body}
    for k, v in kw.items():
        if v is not None:
            rec[k] = v
    _recorder().add(rec)


def flush(timeout=5.0):
    """Block until queued records are sent and the spool replayed (True), or timeout seconds (False;
    undelivered records stay in the spool)."""
    return _recorder().flush(timeout)

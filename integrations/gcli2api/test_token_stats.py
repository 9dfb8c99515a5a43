"""Tests of the gcli2api drop-in (unittest, standard library only).

Most tests use a small fake listener; RealBinaryTest runs against the real Token Stats binary named by
TOKENSTATS_BIN (the Go test integrations/gcli2api builds it and runs this suite, so `go test ./...`
covers it)."""

import asyncio
import http.server
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import token_stats  # noqa: E402

TOKEN = "py-test-token-0123456789"
MIB = 1 << 20


class FakeListener:
    """A stand-in for POST /usage: checks the token, refuses records without a model the way Token Stats
    words it, deduplicates by request id, and can block or stop and restart on the same port."""

    def __init__(self):
        self.posts = []  # one list of records per accepted POST
        self.requests = 0  # every POST, refused ones too
        self.index_field = False  # name a bad record with "index" (and a message without "record N:")
        self.seen = {}  # request_id -> times received
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.lock = threading.Lock()
        self.port = None
        self.server = None

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                outer.entered.set()
                outer.gate.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.requests += 1
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self.answer(401, {"success": False, "error": "missing or wrong token"})
                recs = json.loads(body)
                for i, r in enumerate(recs):
                    if not r.get("model"):
                        if outer.index_field:
                            return self.answer(400, {"success": False, "error": "model: is required", "index": i})
                        return self.answer(400, {"success": False, "error": "record %d: model: is required" % i})
                acc = dup = 0
                with outer.lock:
                    outer.posts.append(recs)
                    for r in recs:
                        n = outer.seen.get(r["request_id"], 0)
                        outer.seen[r["request_id"]] = n + 1
                        if n:
                            dup += 1
                        else:
                            acc += 1
                self.answer(200, {"success": True, "accepted": acc, "duplicates": dup})

            def do_GET(self):
                outer.entered.set()
                outer.gate.wait(10)
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self.answer(401, {"success": False, "error": "missing or wrong token"})
                if not self.path.startswith("/stats/summary?"):
                    return self.answer(404, {"success": False, "error": "not found"})
                self.answer(200, {"success": True, "hours": 24, "data": {
                    "total_input_tokens": 10, "total_output_tokens": 5, "total_tokens": 15, "total_requests": 1,
                    "unique_accounts": 1, "unique_models": 1}})

            def answer(self, status, obj):
                raw = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.gate.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def records(self):
        with self.lock:
            return [r for p in self.posts for r in p]


class FakeCase(unittest.TestCase):
    """A fake listener and a spool folder per test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.spool = os.path.join(self.tmp, "spool")
        self.fake = FakeListener().start()
        self.addCleanup(self.fake.stop)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def recorder(self, **kw):
        opts = dict(url=self.fake.url, token=TOKEN, spool_dir=self.spool, min_backoff=0.05, max_backoff=0.2)
        opts.update(kw)
        r = token_stats.Recorder(**opts)
        self.addCleanup(r.close, 0.5)
        return r

    def add_records(self, r, n):
        """Adds n records to r (input_tokens 0 … n-1); returns their request ids."""
        recs = [{"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1} for i in range(n)]
        for rec in recs:
            r.add(rec)
        return [rec["request_id"] for rec in recs]

    def spooled_records(self):
        out = []
        if os.path.isdir(self.spool):
            for name in os.listdir(self.spool):
                with open(os.path.join(self.spool, name)) as f:
                    out += [json.loads(x) for x in f if x.strip()]
        return out


class FakeListenerTests(FakeCase):
    def test_calls_return_while_the_listener_blocks(self):
        self.fake.gate.clear()  # the listener takes requests but does not answer
        r = self.recorder(batch_delay=0)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 1, "output_tokens": 1})
        self.assertTrue(self.fake.entered.wait(5), "the first record was never posted")
        # The background thread is now stuck in a POST. Calls must still return at once.
        lat = []
        for i in range(200):
            t0 = time.perf_counter()
            r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
            lat.append(time.perf_counter() - t0)
        self.assertEqual(self.fake.records(), [], "the listener answered before the calls returned")
        sys.stderr.write("\nenqueue latency: median %.1f µs, max %.1f µs over %d calls\n"
                         % (statistics.median(lat) * 1e6, max(lat) * 1e6, len(lat)))
        self.fake.gate.set()
        self.assertTrue(r.flush(5))
        self.assertEqual(len(self.fake.records()), 201)

    def test_async_record_usage_returns_before_delivery(self):
        self.fake.gate.clear()
        r = self.recorder(batch_delay=0)
        token_stats._default, old = r, token_stats._default
        self.addCleanup(setattr, token_stats, "_default", old)

        async def proxy_request():
            await token_stats.record_usage("me@example.com", "gemini-2.5-pro", 100, 20, "cred.json",
                                           cached_tokens=10, reasoning_tokens=5)
            token_stats.record_usage_from_response("me@example.com", "gemini-2.5-pro",
                                                   '{"response": {"usageMetadata": {"promptTokenCount": 3}}}',
                                                   request_id="fixed-id")
        asyncio.run(proxy_request())
        self.assertEqual(self.fake.records(), [])
        self.fake.gate.set()
        self.assertTrue(token_stats.flush(5))
        recs = sorted(self.fake.records(), key=lambda x: x["request_id"])
        self.assertEqual(len(recs), 2)
        explicit = [x for x in recs if "input_tokens" in x][0]
        self.assertEqual((explicit["input_tokens"], explicit["output_tokens"], explicit["cached_tokens"],
                          explicit["reasoning_tokens"], explicit["credential_file"]), (100, 20, 10, 5, "cred.json"))
        self.assertRegex(explicit["request_id"], r"^[0-9a-f]{32}$")
        native = [x for x in recs if x["request_id"] == "fixed-id"][0]
        self.assertEqual(native["response"], {"usageMetadata": {"promptTokenCount": 3}}, "cut to its usage")

    def test_response_trimmed_to_usage_and_bad_text_dropped(self):
        dropped = []
        r = self.recorder(batch_delay=10, on_drop=lambda rec, why: dropped.append(why))
        token_stats._default, old = r, token_stats._default
        self.addCleanup(setattr, token_stats, "_default", old)
        big = {"response": {"candidates": [{"content": {"parts": [{"text": "x" * 100000}]}}],
                            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}},
               "traceId": "t"}
        token_stats.record_usage_from_response("a@x", "m", json.dumps(big).encode(), request_id="big")
        token_stats.record_usage_from_response("a@x", "m", {"type": "message", "content": ["long"],
                                                            "usage": {"input_tokens": 3, "output_tokens": 1}},
                                               request_id="anthropic", provider="anthropic")
        token_stats.record_usage_from_response("a@x", "m", "{not json", request_id="bad")
        self.assertTrue(r.flush(5))
        got = {x["request_id"]: x for x in self.fake.records()}
        self.assertEqual(sorted(got), ["anthropic", "big"])
        self.assertEqual(got["big"]["response"], {"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}})
        self.assertEqual(got["anthropic"]["response"], {"type": "message", "usage": {"input_tokens": 3, "output_tokens": 1}})
        self.assertEqual(got["anthropic"]["provider"], "anthropic")
        self.assertEqual(len(dropped), 1)
        self.assertIn("JSON", dropped[0])

    def test_batching(self):
        r = self.recorder(batch_delay=0.5)
        for i in range(5):
            r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
        self.assertTrue(r.flush(5))
        self.assertEqual([len(p) for p in self.fake.posts], [5], "five calls should make one POST")

    def test_batch_size_splits(self):
        r = self.recorder(batch_size=3, batch_delay=10)
        for i in range(7):
            r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(len(p) for p in self.fake.posts), [1, 3, 3])

    def test_spool_while_stopped_then_replay_once(self):
        self.fake.stop()
        r = self.recorder(batch_delay=0.05)
        ids = self.add_records(r, 7)
        self.assertFalse(r.flush(2), "flush with the listener down must say it did not deliver")
        self.assertEqual(sorted(x["request_id"] for x in self.spooled_records()), sorted(ids))
        self.fake.start()  # same port
        self.assertTrue(r.flush(5))
        self.assertEqual(self.fake.seen, {i: 1 for i in ids}, "each record exactly once")
        self.assertEqual(self.spooled_records(), [])
        self.assertTrue(r.flush(2))
        self.assertEqual(self.fake.seen, {i: 1 for i in ids}, "a second flush must not send again")

    def test_replay_when_the_app_is_back_without_flush(self):
        self.fake.stop()
        r = self.recorder(batch_delay=0.01)
        for i in range(4):
            r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
        deadline = time.monotonic() + 5
        while len(self.spooled_records()) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(self.spooled_records()), 4)
        self.fake.start()
        while len(self.fake.seen) < 4 and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        self.assertEqual(sorted(self.fake.seen.values()), [1, 1, 1, 1])

    def test_spool_left_by_a_previous_process_is_replayed(self):
        self.fake.stop()
        first = self.recorder()
        first.add({"account_email": "a@x", "model": "m", "input_tokens": 1, "output_tokens": 1})
        first.close(0.3)  # process exit: the record stays in the spool
        self.assertEqual(len(self.spooled_records()), 1)
        self.fake.start()
        second = self.recorder()
        self.assertTrue(second.flush(5))
        self.assertEqual(list(self.fake.seen.values()), [1])

    def test_bad_record_is_isolated(self):
        dropped = []
        r = self.recorder(batch_delay=10, on_drop=lambda rec, why: dropped.append((rec["input_tokens"], why)))
        for i in range(6):
            r.add({"account_email": "a@x", "model": "" if i == 4 else "m", "input_tokens": i, "output_tokens": 1})
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(x["input_tokens"] for x in self.fake.records()), [0, 1, 2, 3, 5])
        self.assertEqual(dropped, [(4, "record 4: model: is required")])
        self.assertEqual(self.fake.requests, 2, "the record named in the text is removed without bisecting")

    def test_token_from_the_data_folder(self):
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        with open(os.path.join(data, "token"), "w") as f:
            f.write(TOKEN + "\n")
        env = {"TOKENSTATS_DATA_DIR": data}
        self.assertEqual(token_stats.load_token(env), TOKEN)
        self.assertEqual(token_stats.load_token({"TOKENSTATS_TOKEN": " t1 ", "TOKENSTATS_DATA_DIR": data}), "t1")
        self.assertIsNone(token_stats.load_token({"TOKENSTATS_DATA_DIR": self.tmp}))
        old = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(old)))
        os.environ.pop("TOKENSTATS_TOKEN", None)
        os.environ["TOKENSTATS_DATA_DIR"] = data
        r = self.recorder(token=None)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 1, "output_tokens": 1})
        self.assertTrue(r.flush(5))

    @unittest.skipUnless(sys.platform.startswith("linux"), "Linux folder rules")
    def test_default_folders(self):
        self.assertEqual(token_stats.default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}), "/x/tokenstats")
        self.assertEqual(token_stats.default_data_dir({"HOME": "/h"}), "/h/.local/share/tokenstats")
        self.assertEqual(token_stats.default_data_dir({"XDG_DATA_HOME": "rel", "HOME": "/h"}), "/h/.local/share/tokenstats")
        self.assertEqual(token_stats.default_spool_dir({"HOME": "/h"}), "/h/.local/state/tokenstats/spool")
        self.assertEqual(token_stats.default_spool_dir({"TOKENSTATS_SPOOL_DIR": "/s", "HOME": "/h"}), "/s")


class StreamAndReadTests(FakeCase):
    def use(self, r):
        token_stats._default, old = r, token_stats._default
        self.addCleanup(setattr, token_stats, "_default", old)
        return r

    def test_stream_usage_recorded_at_the_end_or_when_cut_off(self):
        r = self.use(self.recorder(batch_delay=10))
        error = object()  # gcli2api yields its error Response objects through the same generator
        lines = ['data: {"response":{"candidates":[{"content":{"parts":[{"text":"He"}]}}],'
                 '"usageMetadata":{"promptTokenCount":10,"totalTokenCount":10}}}', "",
                 'data: {"response":{"candidates":[{"content":{"parts":[{"text":"llo"}]}}],'
                 '"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"thoughtsTokenCount":2}}}']
        step = asyncio.Event()

        async def upstream(items, wait_before=None):
            for i, x in enumerate(items):
                if i == wait_before:
                    await step.wait()  # the upstream is slow here; the client leaves meanwhile
                yield x

        async def main():
            got = [c async for c in token_stats.record_usage_from_stream(
                upstream([error] + lines), "a@x", "gemini-2.5-pro", credential_file="c.json",
                is_antigravity=False, request_id="whole")]
            self.assertEqual(got, [error] + lines, "the stream passes unchanged")

            seen = []

            async def client():
                async for c in token_stats.record_usage_from_stream(upstream(lines, wait_before=2), "a@x",
                                                                    "gemini-2.5-pro", request_id="cut"):
                    seen.append(c)
            task = asyncio.create_task(client())
            while len(seen) < 2:
                await asyncio.sleep(0)
            task.cancel()  # what Starlette does when the client disconnects
            with self.assertRaises(asyncio.CancelledError):
                await task

            async for _ in token_stats.record_usage_from_stream(upstream(["data: {}"]), "a@x", "m", request_id="none"):
                pass
        asyncio.run(main())
        self.assertTrue(r.flush(5))
        got = {x["request_id"]: x for x in self.fake.records()}
        self.assertEqual(sorted(got), ["cut", "whole"], "a stream without usage records nothing")
        self.assertEqual(got["whole"]["response"], {"usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4,
                                                                      "thoughtsTokenCount": 2}}, "the final totals")
        self.assertEqual((got["whole"]["credential_file"], got["whole"]["is_antigravity"]), ("c.json", False))
        self.assertEqual(got["cut"]["response"], {"usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}},
                         "what was produced before the client left")

    def test_reads_do_not_block_the_event_loop(self):
        self.fake.gate.clear()
        self.use(self.recorder())

        async def main():
            task = asyncio.create_task(token_stats.get_summary_stats(24))
            self.assertTrue(await asyncio.to_thread(self.fake.entered.wait, 5), "the read never reached Token Stats")
            self.assertFalse(task.done())  # the loop runs this line while the read waits for its answer
            self.fake.gate.set()
            return await task
        s = asyncio.run(main())
        self.assertEqual((s.total_tokens, s.total_requests, s.unique_models), (15, 1, 1))

    def test_reads_when_token_stats_is_down(self):
        self.fake.stop()
        self.use(self.recorder())

        async def main():
            return [await token_stats.get_summary_stats(24), await token_stats.get_model_stats(24),
                    await token_stats.get_account_stats(24), await token_stats.get_model_trend_hourly(24),
                    await token_stats.get_model_trend_daily(7), await token_stats.get_account_trend_hourly(24),
                    await token_stats.get_stats_db_size(), await token_stats.forward_stats("GET", "/stats/summary", "hours=24")]
        with self.assertLogs("token_stats", "WARNING") as logs:
            got = asyncio.run(main())
            asyncio.run(token_stats.init_db())
        self.assertEqual(got[:7], [token_stats.TokenStatsSummary(), [], [], [], [], [], 0], "empty, valid shapes")
        self.assertEqual(got[7][0], 502)
        self.assertFalse(json.loads(got[7][1])["success"])
        self.assertEqual(len([m for m in logs.output if "read as empty" in m]), 1, "said once a minute: %s" % logs.output)
        self.assertTrue(any("does not answer" in m for m in logs.output), logs.output)
        with self.assertRaises(token_stats.TokenStatsError):
            asyncio.run(token_stats.clear_stats())
        with self.assertRaises(ValueError):
            asyncio.run(token_stats.forward_stats("POST", "/usage"))


# ---- spool and queue defects of issue 14: each test failed before its fix -----------------------------

_watched = {"thread": None, "events": []}


def _audit(event, args):
    # Records file-system calls made on the watched thread (audit hooks cannot be removed; idle otherwise).
    if _watched["thread"] == threading.get_ident() and event in ("open", "os.rename", "os.mkdir", "os.remove"):
        _watched["events"].append((event, args[0] if args else None))


sys.addaudithook(_audit)


def mount_tmpfs(test, size):
    """A real small file system (tmpfs), so a full disk is the kernel's ENOSPC, not a simulation. Needs root
    (CAP_SYS_ADMIN); without it the test skips and says why."""
    if not sys.platform.startswith("linux"):
        test.skipTest("tmpfs mounts are Linux only")
    d = tempfile.mkdtemp()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size, "tmpfs", d],
                         capture_output=True, text=True)
    if out.returncode != 0:
        os.rmdir(d)
        test.skipTest("cannot mount a tmpfs to fill a disk (needs root): %s" % (out.stderr or out.stdout).strip())

    def cleanup():
        subprocess.run(["umount", "-l", d], capture_output=True)
        os.rmdir(d)
    test.addCleanup(cleanup)
    return d


def fill_disk(path):
    """Writes path until the file system refuses (ENOSPC)."""
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass


def rec_line(request_id, **kw):
    r = {"account_email": "a@x", "model": "m", "input_tokens": 1, "output_tokens": 1, "request_id": request_id}
    r.update(kw)
    return json.dumps(r).encode() + b"\n"


class SpoolDefectTests(FakeCase):
    def spool_names(self):
        return sorted(os.listdir(self.spool)) if os.path.isdir(self.spool) else []

    def test_non_utf8_spool_line_is_quarantined_and_the_rest_sent(self):
        os.makedirs(self.spool)
        bad = b'{"account_email":"\xff@x","model":"m","input_tokens":1,"output_tokens":1,"request_id":"b"}\n'
        with open(os.path.join(self.spool, "spool-1-aaaa.jsonl"), "wb") as f:
            f.write(rec_line("a") + bad + b"not json\n" + rec_line("c"))
        r = self.recorder()
        with self.assertLogs("token_stats", "WARNING") as logs:
            self.assertTrue(r.flush(5), "the good records can be delivered: flush must say so")
        self.assertEqual(self.fake.seen, {"a": 1, "c": 1}, "the good records of the file are sent")
        self.assertEqual(self.spool_names(), ["spool-1-aaaa.bad"], "only the quarantine is left")
        with open(os.path.join(self.spool, "spool-1-aaaa.bad"), "rb") as f:
            self.assertEqual(f.read(), bad + b"not json\n", "the unreadable lines are kept byte for byte")
        self.assertTrue(any("spool-1-aaaa.bad" in m for m in logs.output), logs.output)
        self.assertEqual(r.stats["quarantined"], 2)

    def test_auth_failure_warns_once_with_the_fix(self):
        r = self.recorder(token="wrong-token")
        with self.assertLogs("token_stats", "WARNING") as logs:
            for i in range(3):
                r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
                self.assertFalse(r.flush(1))
        auth = [m for m in logs.output if "401" in m]
        self.assertEqual(len(auth), 1, "one warning a minute, not one per attempt: %s" % logs.output)
        self.assertIn("TOKENSTATS_TOKEN", auth[0], "the warning says how to fix it")
        self.assertNotIn("wrong-token", auth[0], "the token is never logged")
        self.assertEqual(len(self.spooled_records()), 3, "the records wait in the spool")

    def test_full_disk_keeps_records_and_leaks_no_temporary_files(self):
        mnt = mount_tmpfs(self, 256 << 10)
        self.spool = os.path.join(mnt, "spool")
        os.makedirs(self.spool)
        fill_disk(os.path.join(mnt, "filler"))
        self.fake.stop()
        r = self.recorder(batch_delay=0.01)
        ids = self.add_records(r, 20)
        with self.assertLogs("token_stats", "WARNING") as logs:
            self.assertFalse(r.flush(1), "nothing could be delivered or kept on disk")
        self.assertIn("No space left on device", logs.output[0])
        self.assertEqual([n for n in os.listdir(self.spool) if n.endswith(".tmp")], [], "no partial file is left")
        self.assertEqual(r.stats["dropped"], 0, "a full disk must not drop what memory can hold")
        os.remove(os.path.join(mnt, "filler"))
        self.fake.start()
        self.assertTrue(r.flush(5))
        self.assertEqual(self.fake.seen, {i: 1 for i in ids}, "every record exactly once")

    def held_after(self, r, bodies):
        """Bytes the process still holds after handing r the replies made by bodies (a generator, so
        that the test itself keeps none)."""
        import gc
        import tracemalloc
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for body in bodies:
                token_stats_record(r, body)
                del body
            gc.collect()
            return tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()

    def test_memory_is_capped_by_bytes(self):
        # A frozen Token Stats (it takes the request and never answers) and 40 replies of 1 MiB.
        self.fake.gate.clear()
        r = self.recorder(timeout=30)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 0, "output_tokens": 1, "request_id": "first"})
        self.assertTrue(self.fake.entered.wait(5), "the first record was never posted")
        replies = ((b'{"response":{"candidates":[{"content":{"parts":[{"text":"%s"}]}}],'
                    b'"usageMetadata":{"promptTokenCount":%d}}}') % (b"x" * MIB, i) for i in range(40))
        held = self.held_after(r, replies)
        self.assertLess(held, 20 * MIB, "40 MiB of replies must not stay in memory (default cap 16 MiB)")
        self.fake.gate.set()
        self.assertTrue(r.flush(10))
        self.assertEqual(set(self.fake.seen.values()), {1}, "nothing delivered twice")
        self.assertEqual(len(self.fake.seen) + r.stats["dropped"], 41, "every record delivered or counted as dropped")

    def test_memory_cap_drops_are_counted(self):
        # Replies that do not shrink (no usage member to cut them down to), Token Stats frozen, and a
        # spool that cannot be written: the cap drops what does not fit, and counts it.
        self.fake.gate.clear()
        blocker = os.path.join(self.tmp, "not-a-folder")
        open(blocker, "w").close()
        r = self.recorder(spool_dir=os.path.join(blocker, "spool"), timeout=30)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 0, "output_tokens": 1, "request_id": "first"})
        self.assertTrue(self.fake.entered.wait(5), "the first record was never posted")
        with self.assertLogs("token_stats", "WARNING") as logs:
            held = self.held_after(r, (b'{"pad":"%s","n":%d}' % (b"x" * MIB, i) for i in range(40)))
        self.assertLess(held, 24 * MIB, "the cap, and what encoding one reply takes meanwhile")
        self.assertGreaterEqual(r.stats["dropped"], 40 - 16, "at most 16 MiB of them fit")
        self.assertEqual(len([m for m in logs.output if "dropped" in m]), 1, "said once, with the count")
        self.fake.gate.set()
        self.assertTrue(r.flush(30))
        self.assertEqual(len(self.fake.seen) + r.stats["dropped"], 41, "every record delivered or counted as dropped")

    def test_overflow_is_not_written_on_the_callers_thread(self):
        self.fake.gate.clear()
        r = self.recorder(batch_delay=0, queue_size=4, batch_size=2)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 0, "output_tokens": 1})
        self.assertTrue(self.fake.entered.wait(5))
        _watched["events"] = []
        _watched["thread"] = threading.get_ident()
        try:
            for i in range(1, 11):
                r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
        finally:
            _watched["thread"] = None
        self.assertEqual(_watched["events"], [], "add() touched the disk on the caller's thread")
        self.fake.gate.set()
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(x["input_tokens"] for x in self.fake.records()), list(range(11)))
        self.assertEqual(sorted(self.fake.seen.values()), [1] * 11)

    def test_claim_of_a_dead_process_is_taken_over_at_once(self):
        os.makedirs(self.spool)
        with open(os.path.join(self.spool, "spool-1-aaaa.jsonl"), "wb") as f:
            f.write(rec_line("a") + rec_line("b") + rec_line("c"))
        # A Token Stats that accepts the connection and never answers: the child hangs mid-replay.
        hole = socket.socket()
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        self.addCleanup(hole.close)
        script = ("import sys; sys.path.insert(0, %r); import token_stats; "
                  "token_stats.Recorder(url=%r, token=%r, spool_dir=%r, timeout=120).flush(120)"
                  % (os.path.dirname(os.path.abspath(__file__)), "http://127.0.0.1:%d" % hole.getsockname()[1],
                     TOKEN, self.spool))
        child = subprocess.Popen([sys.executable, "-c", script])
        self.addCleanup(lambda: child.poll() is None and child.kill())
        deadline = time.monotonic() + 10
        while not any(n.endswith(".claimed") for n in self.spool_names()):
            self.assertLess(time.monotonic(), deadline, "the child never claimed the spool file")
            time.sleep(0.02)
        child.kill()  # dies mid-replay, holding the claim
        child.wait(10)
        r = self.recorder()
        self.assertTrue(r.flush(5))
        self.assertEqual(self.fake.seen, {"a": 1, "b": 1, "c": 1}, "the dead process's claim is replayed now")
        self.assertEqual(self.spool_names(), [])

    def test_flush_is_false_while_a_claimed_file_waits(self):
        # A claim whose owner is gone holds records: flush must not report them as delivered.
        os.makedirs(self.spool)
        with open(os.path.join(self.spool, "spool-1-aaaa.jsonl.claimed"), "wb") as f:
            f.write(rec_line("a"))
        self.fake.stop()
        r = self.recorder()
        self.assertFalse(r.flush(1), "the listener is down and a spool file waits")

    def test_raw_reply_is_not_decoded_on_the_callers_thread(self):
        import tracemalloc
        r = self.recorder(batch_delay=30)
        body = b'{"response":{"usageMetadata":{"promptTokenCount":5}},"pad":"' + b"x" * (5 << 20) + b'"}'
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            token_stats_record(r, body)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        self.assertLess(peak, 1 << 20, "a 5 MiB reply was copied or decoded on the request path")
        self.assertTrue(r.flush(5))
        self.assertEqual(self.fake.records()[0]["response"], {"usageMetadata": {"promptTokenCount": 5}})

    def test_index_field_names_the_bad_record(self):
        self.fake.index_field = True
        dropped = []
        r = self.recorder(batch_delay=10, on_drop=lambda rec, why: dropped.append(rec["input_tokens"]))
        for i in range(6):
            r.add({"account_email": "a@x", "model": "" if i == 4 else "m", "input_tokens": i, "output_tokens": 1})
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(x["input_tokens"] for x in self.fake.records()), [0, 1, 2, 3, 5])
        self.assertEqual(dropped, [4])
        self.assertEqual(self.fake.requests, 2, "the refused POST and the one without the bad record")


def token_stats_record(r, body):
    """record_usage_from_response through recorder r."""
    old, token_stats._default = token_stats._default, r
    try:
        token_stats.record_usage_from_response("a@x", "m", body)
    finally:
        token_stats._default = old


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(os.environ.get("TOKENSTATS_BIN"), "TOKENSTATS_BIN is not set (go test ./integrations/gcli2api sets it)")
class RealBinaryTest(unittest.TestCase):
    """The drop-in against the real Token Stats, including a restart of the app."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")
        self.proc = None
        self.addCleanup(self.stop_app)
        self.env = dict(os.environ)
        self.env.pop("TOKENSTATS_TOKEN", None)  # the app generates one into its data folder
        self.env["TOKENSTATS_DATA_DIR"] = self.data
        self.listen = "127.0.0.1:0"

    def start_app(self):
        self.proc = subprocess.Popen([os.environ["TOKENSTATS_BIN"], "--headless", "--listen", self.listen],
                                     env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        if not m:
            self.fail("the app did not start: %r %r" % (line, self.proc.stderr.read()))
        self.url = m.group(1)
        self.listen = "127.0.0.1:" + m.group(2)  # restart on the same port

    def stop_app(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()
        self.proc = None

    def summary(self):
        with open(os.path.join(self.data, "token")) as f:
            tok = f.read().strip()
        req = urllib.request.Request(self.url + "/stats/summary?hours=24", headers={"Authorization": "Bearer " + tok})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["data"]

    def get(self, path, token=None):
        if token is None:
            with open(os.path.join(self.data, "token")) as f:
                token = f.read().strip()
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.read()

    def use_app(self, token=None):
        old = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(old)))
        os.environ.pop("TOKENSTATS_TOKEN", None)
        os.environ.update(TOKENSTATS_URL=self.url, TOKENSTATS_DATA_DIR=self.data,
                          TOKENSTATS_SPOOL_DIR=os.path.join(self.tmp, "spool"))
        if token:
            os.environ["TOKENSTATS_TOKEN"] = token
        token_stats._reset_default()
        self.addCleanup(token_stats._reset_default)

    def test_origin_functions(self):
        # The origin module's functions, called as the Akarin-Akari port calls them (web.py's startup and
        # src/web_routes.py's seven /stats/* routes, commit 57e7c52), answered by the real app.
        self.start_app()
        self.use_app()

        async def record():
            await token_stats.record_usage(account_email="a@x", model="gemini-2.5-pro", input_tokens=1000,
                                           output_tokens=200, credential_file="a.json", is_antigravity=True)
            await token_stats.record_usage("a@x", "gemini-2.5-pro", 1000, 200, "a.json")
            await token_stats.record_usage("b@x", "gemini-2.5-flash", 300, 50, "b.json", False)
            token_stats.record_usage_from_response("b@x", "gemini-2.5-pro", b'{"response":{"usageMetadata":{'
                                                   b'"promptTokenCount":100,"candidatesTokenCount":10,'
                                                   b'"thoughtsTokenCount":5}}}', credential_file="b.json")
        asyncio.run(record())
        self.assertTrue(token_stats.flush(10))

        async def port_routes(hours):
            # What each route of the port does with the function's return value, field by field.
            await token_stats.init_db()
            s = await token_stats.get_summary_stats(hours)
            summary = {"total_input_tokens": s.total_input_tokens, "total_output_tokens": s.total_output_tokens,
                       "total_tokens": s.total_tokens, "total_requests": s.total_requests,
                       "unique_accounts": s.unique_accounts, "unique_models": s.unique_models}
            by_model = [{"model": m.model, "total_input_tokens": m.total_input_tokens,
                         "total_output_tokens": m.total_output_tokens, "total_tokens": m.total_tokens,
                         "request_count": m.request_count} for m in await token_stats.get_model_stats(hours)]
            by_account = [{"account_email": a.account_email, "total_input_tokens": a.total_input_tokens,
                           "total_output_tokens": a.total_output_tokens, "total_tokens": a.total_tokens,
                           "request_count": a.request_count} for a in await token_stats.get_account_stats(hours)]
            trend_hourly = [{"period": t.period, "data": t.data} for t in await token_stats.get_model_trend_hourly(hours)]
            trend_daily = [{"period": t.period, "data": t.data}
                           for t in await token_stats.get_model_trend_daily(max(1, hours // 24))]
            trend_account = [{"period": t.period, "data": t.data}
                             for t in await token_stats.get_account_trend_hourly(hours)]
            size = await token_stats.get_stats_db_size()
            return summary, by_model, by_account, trend_hourly, trend_daily, trend_account, size

        summary, by_model, by_account, trend_hourly, trend_daily, trend_account, size = asyncio.run(port_routes(168))
        self.assertEqual(summary, {"total_input_tokens": 2400, "total_output_tokens": 465, "total_tokens": 2865,
                                   "total_requests": 4, "unique_accounts": 2, "unique_models": 2})
        self.assertEqual(by_model, [
            {"model": "gemini-2.5-pro", "total_input_tokens": 2100, "total_output_tokens": 415, "total_tokens": 2515,
             "request_count": 3},
            {"model": "gemini-2.5-flash", "total_input_tokens": 300, "total_output_tokens": 50, "total_tokens": 350,
             "request_count": 1}])
        self.assertEqual(by_account, [
            {"account_email": "a@x", "total_input_tokens": 2000, "total_output_tokens": 400, "total_tokens": 2400,
             "request_count": 2},
            {"account_email": "b@x", "total_input_tokens": 400, "total_output_tokens": 65, "total_tokens": 465,
             "request_count": 2}])

        def per_key(points):
            out = {}
            for p in points:
                for k, v in p["data"].items():
                    out[k] = out.get(k, 0) + v
            return out
        self.assertEqual(per_key(trend_hourly), {"gemini-2.5-pro": 2515, "gemini-2.5-flash": 350})
        self.assertEqual(len(trend_hourly), 168 + 1, "every hour of the window, the partial first one too")
        self.assertEqual(per_key(trend_daily), {"gemini-2.5-pro": 2515, "gemini-2.5-flash": 350})
        self.assertEqual(per_key(trend_account), {"a@x": 2400, "b@x": 465})
        info = json.loads(self.get("/stats/db-info"))
        self.assertEqual(size, info["db_size_bytes"])
        self.assertGreater(size, 0)

        # The same numbers as Token Stats' own answers, and forward_stats passes those through unchanged.
        direct = json.loads(self.get("/stats/summary?hours=168"))
        self.assertEqual(summary, {k: direct["data"][k] for k in summary})
        status, body, ctype = asyncio.run(token_stats.forward_stats("GET", "/stats/by-model", "hours=168"))
        self.assertEqual((status, body, ctype), (200, self.get("/stats/by-model?hours=168"), "application/json; charset=utf-8"))
        status, body, _ = asyncio.run(token_stats.forward_stats("GET", "/stats/summary", "hours=0"))
        self.assertEqual(status, 400, "Token Stats' refusal passes through")
        with self.assertRaises(token_stats.TokenStatsError):
            asyncio.run(token_stats.get_summary_stats(0))

        # clear_stats: older than N hours, then everything.
        token_stats.record_usage_from_response("c@x", "m", {"prompt_tokens": 7, "completion_tokens": 1},
                                               provider="openai", timestamp=int(time.time()) - 3 * 3600)
        self.assertTrue(token_stats.flush(10))
        self.assertEqual(asyncio.run(token_stats.get_summary_stats(24)).total_requests, 5)
        self.assertEqual(asyncio.run(token_stats.clear_stats(2)), 1)
        self.assertEqual(asyncio.run(token_stats.get_summary_stats(24)).total_tokens, 2865)
        self.assertEqual(asyncio.run(token_stats.clear_stats()), 4)
        self.assertEqual(asyncio.run(token_stats.get_summary_stats(24)), token_stats.TokenStatsSummary())

    def test_origin_functions_without_token_stats(self):
        # A wrong token, then the app stopped: reads give the empty shapes (the routes answer 200 with
        # zeros) and say why; a clear that did not happen raises.
        self.start_app()
        self.use_app(token="not-the-token")
        with self.assertLogs("token_stats", "WARNING") as logs:
            self.assertEqual(asyncio.run(token_stats.get_model_stats(24)), [])
        self.assertIn("tokenstats token", logs.output[0])
        self.assertNotIn("not-the-token", logs.output[0])
        with self.assertRaises(token_stats.TokenStatsError):
            asyncio.run(token_stats.clear_stats())
        self.stop_app()
        self.use_app()
        with self.assertLogs("token_stats", "WARNING"):
            self.assertEqual(asyncio.run(token_stats.get_summary_stats(24)), token_stats.TokenStatsSummary())
            self.assertEqual(asyncio.run(token_stats.get_stats_db_size()), 0)
            asyncio.run(token_stats.init_db())

    def test_record_restart_replay(self):
        self.start_app()
        old = dict(os.environ)
        self.addCleanup(lambda: (os.environ.clear(), os.environ.update(old)))
        os.environ.pop("TOKENSTATS_TOKEN", None)
        os.environ.update(TOKENSTATS_URL=self.url, TOKENSTATS_DATA_DIR=self.data,
                          TOKENSTATS_SPOOL_DIR=os.path.join(self.tmp, "spool"))
        token_stats._reset_default()
        self.addCleanup(token_stats._reset_default)

        async def requests():
            await token_stats.record_usage("a@example.com", "gemini-2.5-pro", 1000, 200, "a.json",
                                           cached_tokens=600, reasoning_tokens=50)
            # A Gemini CLI reply and an OpenAI-style usage, normalised by the server.
            token_stats.record_usage_from_response("b@example.com", "gemini-2.5-flash", {"response": {
                "candidates": [], "usageMetadata": {"promptTokenCount": 300, "candidatesTokenCount": 40,
                                                    "thoughtsTokenCount": 60, "cachedContentTokenCount": 100}}})
            token_stats.record_usage_from_response("b@example.com", "gpt-4o",
                                                   {"prompt_tokens": 10, "completion_tokens": 5}, provider="openai")
        asyncio.run(requests())
        self.assertTrue(token_stats.flush(10))
        s = self.summary()
        self.assertEqual((s["total_requests"], s["total_input_tokens"], s["total_output_tokens"],
                          s["total_cached_tokens"], s["total_reasoning_tokens"], s["total_tokens"]),
                         (3, 1310, 305, 700, 110, 1615))

        self.stop_app()
        for i in range(5):
            token_stats.record_usage_nowait("c@example.com", "gemini-2.5-pro", 10, 1)
        self.assertFalse(token_stats.flush(1), "the app is down: flush cannot deliver")
        self.start_app()
        self.assertTrue(token_stats.flush(10))
        self.assertTrue(token_stats.flush(5))
        s = self.summary()
        self.assertEqual((s["total_requests"], s["total_input_tokens"]), (8, 1360), "each spooled record exactly once")
        self.assertEqual(os.listdir(os.path.join(self.tmp, "spool")), [])


if __name__ == "__main__":
    unittest.main()

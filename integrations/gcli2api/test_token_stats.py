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


class FakeListener:
    """A stand-in for POST /usage: checks the token, refuses records without a model the way Token Stats
    words it, deduplicates by request id, and can block or stop and restart on the same port."""

    def __init__(self):
        self.posts = []  # one list of records per POST
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
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    return self.answer(401, {"success": False, "error": "missing or wrong token"})
                recs = json.loads(body)
                for i, r in enumerate(recs):
                    if not r.get("model"):
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


class FakeListenerTests(unittest.TestCase):
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

    def spooled_records(self):
        out = []
        if os.path.isdir(self.spool):
            for name in os.listdir(self.spool):
                with open(os.path.join(self.spool, name)) as f:
                    out += [json.loads(x) for x in f if x.strip()]
        return out

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
        self.assertEqual(native["response"], {"response": {"usageMetadata": {"promptTokenCount": 3}}})

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
        self.assertEqual(got["big"]["response"], {"response": {"usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2}}})
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
        ids = []
        for i in range(7):
            rec = {"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1}
            r.add(rec)
            ids.append(rec["request_id"])
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

    def test_full_queue_spools_the_oldest(self):
        self.fake.gate.clear()
        r = self.recorder(batch_delay=0, queue_size=4, batch_size=2)
        r.add({"account_email": "a@x", "model": "m", "input_tokens": 0, "output_tokens": 1})
        self.assertTrue(self.fake.entered.wait(5))
        for i in range(1, 11):
            r.add({"account_email": "a@x", "model": "m", "input_tokens": i, "output_tokens": 1})
        spooled = sorted(x["input_tokens"] for x in self.spooled_records())
        self.assertTrue(spooled and spooled[0] == 1, "the oldest queued records go to the spool: %s" % spooled)
        self.fake.gate.set()
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(x["input_tokens"] for x in self.fake.records()), list(range(11)))

    def test_bad_record_is_isolated(self):
        dropped = []
        r = self.recorder(batch_delay=10, on_drop=lambda rec, why: dropped.append((rec["input_tokens"], why)))
        for i in range(6):
            r.add({"account_email": "a@x", "model": "" if i == 4 else "m", "input_tokens": i, "output_tokens": 1})
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(x["input_tokens"] for x in self.fake.records()), [0, 1, 2, 3, 5])
        self.assertEqual(dropped, [(4, "record 4: model: is required")])

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

"""Writes a token_stats.db by running the origin design's own module against it.

The module is the Akarin-Akari gcli2api port's src/token_stats.py (commit
eba1b62cd18b6c3325bca530665fd4fd349a8458), run unchanged with aiosqlite (Debian's python3-aiosqlite
0.17). Two things around it are ours: a stand-in for the port's `log` module, and a clock: the module
reads datetime.utcnow(), which is replaced by one that returns the times listed in the expectations
file, so each record's true time is known. Everything the module computes from it (the time stamp,
int(datetime.utcnow().timestamp()), which Python reads as local time, and the hour bucket) and every
row it writes are its own.

    TZ=Asia/Shanghai /usr/bin/python3 origin_gen.py TOKEN_STATS_PY origin_shanghai.db origin_shanghai.json 1
    TZ=America/New_York /usr/bin/python3 origin_gen.py TOKEN_STATS_PY origin_newyork.db origin_newyork.json 2

The JSON file lists the records as they happened (true UTC time, names, tokens), for the Go test.
"""

import asyncio
import datetime as dt
import importlib.util
import json
import os
import random
import sys
import types


class _Log:
    def __getattr__(self, name):
        return lambda *a, **k: None


log_module = types.ModuleType("log")
log_module.log = _Log()
sys.modules["log"] = log_module

module_path, db_path, json_path, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("token_stats", module_path)
token_stats = importlib.util.module_from_spec(spec)
spec.loader.exec_module(token_stats)
token_stats.DB_PATH = os.path.abspath(db_path)

rng = random.Random(seed)
accounts = ["alice@example.com", "张伟@example.com", "unknown"]
models = ["gemini-2.5-pro", "claude-sonnet-4-5", "模型-实验"]
start = dt.datetime(2026, 3, 6, 0, 0, 0)  # New York's clocks change on 2026-03-08
records = []
for i in range(60):
    when = start + dt.timedelta(seconds=rng.randrange(5 * 86400))
    if when.date() == dt.date(2026, 3, 8) and 1 <= when.hour < 4:
        when -= dt.timedelta(hours=3)  # keep clear of the hour that does not exist as local time
    records.append({
        "utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account_email": rng.choice(accounts),
        "model": rng.choice(models),
        "input_tokens": rng.randrange(1, 200000),
        "output_tokens": rng.randrange(0, 4000),
        "credential_file": rng.choice([None, "ag_cred-1.json", "cred-2.json"]),
        "is_antigravity": rng.random() < 0.7,
    })
records.sort(key=lambda r: r["utc"])


class _Clock(dt.datetime):
    now_utc = None

    @classmethod
    def utcnow(cls):
        return cls.now_utc


token_stats.datetime = _Clock


async def main():
    await token_stats.init_db()
    for r in records:
        _Clock.now_utc = _Clock.strptime(r["utc"], "%Y-%m-%dT%H:%M:%SZ")
        await token_stats.record_usage(
            account_email=r["account_email"], model=r["model"], input_tokens=r["input_tokens"],
            output_tokens=r["output_tokens"], credential_file=r["credential_file"],
            is_antigravity=r["is_antigravity"])


asyncio.run(main())
with open(json_path, "w", encoding="utf-8") as f:
    json.dump(records, f, ensure_ascii=False, indent=1)

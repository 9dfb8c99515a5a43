package stats

import (
	"context"
	"database/sql"
	"fmt"
)

// Name kinds in the names table: strings are stored once and rows refer to them by id. Id 0 is "none"
// (a record without a source or credential), never stored.
const (
	kindAccount    = 1
	kindModel      = 2
	kindCredential = 3
	kindSource     = 4
)

// nameKind is the names kind of a dimension's values.
func nameKind(d Dimension) int {
	switch d {
	case ByAccount:
		return kindAccount
	case ByCredential:
		return kindCredential
	case BySource:
		return kindSource
	}
	return kindModel
}

// SchemaVersion is the PRAGMA user_version of a file this program writes.
func SchemaVersion() int { return len(migrations) }

// migrations bring a file from PRAGMA user_version i to i+1. docs/decisions.md explains the shape.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID;
	CREATE TABLE names(id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, name TEXT NOT NULL,
		UNIQUE(kind, name));
	CREATE TABLE usage(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, model INTEGER NOT NULL,
		input INTEGER NOT NULL, output INTEGER NOT NULL, cached INTEGER NOT NULL, reasoning INTEGER NOT NULL,
		cache_creation INTEGER NOT NULL, flags INTEGER NOT NULL, credential INTEGER, source INTEGER);
	CREATE TABLE request_ids(h INTEGER PRIMARY KEY);
	CREATE TABLE rollup(level INTEGER NOT NULL, dim INTEGER NOT NULL, bucket INTEGER NOT NULL,
		key INTEGER NOT NULL, requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
		cached INTEGER NOT NULL, reasoning INTEGER NOT NULL, cache_creation INTEGER NOT NULL,
		PRIMARY KEY(level, dim, bucket, key)) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('records', 0), ('zone', '');`,

	// 2: combos, filters, money, sources, minute rollups. Rows refer to a combo (the names one record
	// carries); the per-combo rollups (cube) answer filtered queries, keyed bucket first so a commit
	// writes into the few pages of the current buckets. Cost and the reporting tool's own cost are
	// nano-dollars, NULL when unpriced or not given. The rollups are rebuilt from the raw rows on the next
	// open (the zone key's layout changes).
	`ALTER TABLE names ADD COLUMN alias TEXT;
	CREATE TABLE combos(id INTEGER PRIMARY KEY AUTOINCREMENT, account INTEGER NOT NULL, model INTEGER NOT NULL,
		source INTEGER NOT NULL, credential INTEGER NOT NULL, flags INTEGER NOT NULL,
		UNIQUE(account, model, source, credential, flags));
	INSERT INTO combos(account, model, source, credential, flags)
		SELECT DISTINCT account, model, coalesce(source, 0), coalesce(credential, 0), flags FROM usage;
	CREATE TABLE usage2(id INTEGER PRIMARY KEY, combo INTEGER NOT NULL, input INTEGER NOT NULL,
		output INTEGER NOT NULL, cached INTEGER NOT NULL, reasoning INTEGER NOT NULL,
		cache_creation INTEGER NOT NULL, cost INTEGER, agent_cost INTEGER);
	INSERT INTO usage2(id, combo, input, output, cached, reasoning, cache_creation)
		SELECT u.id, c.id, u.input, u.output, u.cached, u.reasoning, u.cache_creation FROM usage u
		JOIN combos c ON c.account = u.account AND c.model = u.model AND c.source = coalesce(u.source, 0)
			AND c.credential = coalesce(u.credential, 0) AND c.flags = u.flags;
	CREATE TABLE sources(name INTEGER PRIMARY KEY, kind TEXT NOT NULL, first INTEGER NOT NULL,
		last INTEGER NOT NULL, error TEXT, error_at INTEGER, ignored INTEGER NOT NULL DEFAULT 0, note TEXT);
	INSERT INTO sources(name, kind, first, last)
		SELECT c.source, 'post', min(u.id >> 24), max(u.id >> 24) FROM usage2 u JOIN combos c ON c.id = u.combo
		GROUP BY c.source;
	DROP TABLE usage;
	ALTER TABLE usage2 RENAME TO usage;
	DROP TABLE rollup;
	CREATE TABLE rollup(level INTEGER NOT NULL, dim INTEGER NOT NULL, bucket INTEGER NOT NULL,
		key INTEGER NOT NULL, requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,
		cached INTEGER NOT NULL, reasoning INTEGER NOT NULL, cache_creation INTEGER NOT NULL,
		cost INTEGER NOT NULL, unpriced INTEGER NOT NULL, agent_cost INTEGER NOT NULL,
		agent_requests INTEGER NOT NULL, PRIMARY KEY(level, dim, bucket, key)) WITHOUT ROWID;
	CREATE TABLE cube(level INTEGER NOT NULL, bucket INTEGER NOT NULL, combo INTEGER NOT NULL,
		requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cached INTEGER NOT NULL,
		reasoning INTEGER NOT NULL, cache_creation INTEGER NOT NULL, cost INTEGER NOT NULL,
		unpriced INTEGER NOT NULL, agent_cost INTEGER NOT NULL, agent_requests INTEGER NOT NULL,
		PRIMARY KEY(level, bucket, combo)) WITHOUT ROWID;
	CREATE TABLE busy_hours(bucket INTEGER PRIMARY KEY);
	CREATE TABLE state(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('minutes_from', 0);
	UPDATE meta SET value = '' WHERE key = 'zone';`,

	// 3: retention and lifetime counters. retired_before is the retention cutoff (a local day start;
	// 0: none): before it only day and month rollups remain (docs/retention.md). cleared keeps, per
	// combo, the totals that clears removed, so /metrics counters never go down.
	`INSERT INTO meta(key, value) VALUES ('retired_before', 0);
	CREATE TABLE cleared(combo INTEGER PRIMARY KEY, requests INTEGER NOT NULL, input INTEGER NOT NULL,
		output INTEGER NOT NULL, cached INTEGER NOT NULL, reasoning INTEGER NOT NULL,
		cache_creation INTEGER NOT NULL, cost INTEGER NOT NULL, unpriced INTEGER NOT NULL,
		agent_cost INTEGER NOT NULL, agent_requests INTEGER NOT NULL);`,
	// 4: prices and limits. price_keys remembers, per model name id, which prices its stored costs were
	// computed with (reprice.go); a model without a row is re-priced on the next open. Override prices
	// are nano-dollars per million tokens (NULL cache prices: the input price). A limit's amount is
	// tokens, requests or nano-dollars; limit_alerts holds the thresholds already announced per period.
	`CREATE TABLE price_overrides(model TEXT PRIMARY KEY, input INTEGER NOT NULL, output INTEGER NOT NULL,
		cache_read INTEGER, cache_write INTEGER) WITHOUT ROWID;
	CREATE TABLE price_keys(model INTEGER PRIMARY KEY, key TEXT NOT NULL);
	CREATE TABLE limits(id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, name TEXT NOT NULL,
		metric TEXT NOT NULL, period TEXT NOT NULL, zone TEXT NOT NULL, amount INTEGER NOT NULL,
		thresholds TEXT NOT NULL, webhook TEXT NOT NULL);
	CREATE TABLE limit_alerts(limit_id INTEGER NOT NULL, period INTEGER NOT NULL, threshold INTEGER NOT NULL,
		at INTEGER NOT NULL, PRIMARY KEY(limit_id, period, threshold)) WITHOUT ROWID;`,
	// 5: sealed per-combo rollups (seal.go). The hour, day and month rows of the cube whose buckets are
	// over move to cube_sealed, keyed combo first, so a filtered query seeks its combos' rows instead
	// of reading every combo of every bucket. sealed_<level> is the first bucket still in cube.
	`CREATE TABLE cube_sealed(level INTEGER NOT NULL, combo INTEGER NOT NULL, bucket INTEGER NOT NULL,
		requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL, cached INTEGER NOT NULL,
		reasoning INTEGER NOT NULL, cache_creation INTEGER NOT NULL, cost INTEGER NOT NULL,
		unpriced INTEGER NOT NULL, agent_cost INTEGER NOT NULL, agent_requests INTEGER NOT NULL,
		PRIMARY KEY(level, combo, bucket)) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('sealed_2', 0), ('sealed_3', 0), ('sealed_4', 0);`,
	// 6: strips (strip.go): per combo and day (of the hour level) or month (of the day level), the sealed
	// rows' tokens, cost and requests in one blob, for filtered trends. strips_<level>_from and _to bound
	// the spans they are exact for; a file from before is stripped by the writer, a budget at a time.
	`CREATE TABLE strips(level INTEGER NOT NULL, combo INTEGER NOT NULL, start INTEGER NOT NULL, data BLOB NOT NULL,
		PRIMARY KEY(level, combo, start)) WITHOUT ROWID;
	INSERT INTO meta(key, value) VALUES ('strips_2_from', 0), ('strips_2_to', 0), ('strips_3_from', 0),
		('strips_3_to', 0);`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("the file has schema version %d, newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

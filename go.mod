// Dependencies and why each is here are listed in README.md (Dependencies).
module github.com/go-auditlog/auditlog

go 1.25.0

require (
	github.com/go-sql-driver/mysql v1.8.1 // MySQL lock-wait errors (auditstore), DSN parsing in tests; GORM's MySQL driver uses it
	github.com/google/uuid v1.6.0 // correlation ids in audithttp; UUID keys in tests
	github.com/ncruces/go-sqlite3 v0.35.3 // SQLite 3.53 compiled to Go, no cgo: the auditlog command's database/sql driver
	github.com/ncruces/go-sqlite3/gormlite v0.34.0 // GORM driver over it: the embedded default
	golang.org/x/term v0.45.0 // the CLI's terminal detection
	golang.org/x/text v0.40.0 // display width of wide characters in the CLI's tables
	gorm.io/driver/mysql v1.6.0 // MariaDB/MySQL
	gorm.io/driver/postgres v1.6.3 // PostgreSQL (pgx)
	gorm.io/gorm v1.31.2 // the ORM whose writes are audited
)

require (
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
	github.com/glebarez/sqlite v1.11.0 // pure-Go SQLite driver for GORM (modernc): tests and auditbench
	github.com/jackc/pgx/v5 v5.10.0
	gorm.io/driver/sqlite v1.6.0 // GORM's cgo SQLite driver (mattn/go-sqlite3): tests and auditbench with -tags auditlog_mattn
	gorm.io/plugin/optimisticlock v1.1.3
)

require (
	github.com/glebarez/go-sqlite v1.21.2
	github.com/transparency-dev/formats v0.1.1 // the C2SP checkpoint of the sealed tree (auditseal)
	github.com/transparency-dev/merkle v0.0.2 // RFC 6962 tree roots and proofs, a second implementation, in verification
	golang.org/x/mod v0.37.0 // Merkle tree storage (sumdb/tlog) and signed notes (sumdb/note) for auditseal
)

require github.com/nats-io/nats.go v1.53.0 // auditnats: checkpoints kept in NATS JetStream

require (
	go.opentelemetry.io/otel v1.46.0 // auditotel: the global providers, attributes and span status; v1.47 would raise the module's go to 1.26
	go.opentelemetry.io/otel/metric v1.46.0 // auditotel: the plugin's metrics
	go.opentelemetry.io/otel/sdk v1.46.0 // auditotel tests only: in-memory spans (tracetest)
	go.opentelemetry.io/otel/sdk/metric v1.46.0 // auditotel tests only: a manual metric reader
	go.opentelemetry.io/otel/trace v1.46.0 // auditotel: a span per audited statement
)

require gorm.io/plugin/dbresolver v1.6.2

require (
	filippo.io/edwards25519 v1.1.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.2 // indirect
	github.com/jinzhu/inflection v1.0.0 // indirect
	github.com/jinzhu/now v1.1.5 // indirect
	github.com/klauspost/compress v1.18.5 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/mattn/go-sqlite3 v1.14.22 // indirect
	github.com/nats-io/nkeys v0.4.15 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/ncruces/go-sqlite3-wasm/v3 v3.2.35304 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	modernc.org/libc v1.22.5 // indirect
	modernc.org/mathutil v1.5.0 // indirect
	modernc.org/memory v1.5.0 // indirect
	modernc.org/sqlite v1.23.1 // indirect
)

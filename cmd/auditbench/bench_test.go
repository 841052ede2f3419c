package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The quick run works on a fresh machine with no server and prints one JSON
// object per workload with the documented fields, naming the SQLite driver
// and library version.
func TestQuickSQLiteJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every workload")
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-db", "sqlite", "-quick", "-json", "-dir", t.TempDir()}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(workloads) {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"db", "sqlite_driver", "sqlite_version", "workload", "baseline_ops", "audited_ops", "ratio", "entries_per_op", "extra_statements"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("line %s lacks %s", l, k)
			}
		}
		if r["audited_ops"].(float64) <= 0 || r["entries_per_op"].(float64) < 1 {
			t.Fatalf("implausible result %s", l)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-db", "oracle"}, {"-n", "0"}, {"-db", "postgres", "-postgres-dsn", ""}, {"extra"}, {"-sqlite-driver", "nope"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

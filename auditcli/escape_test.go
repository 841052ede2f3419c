package auditcli_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditcli"
)

// hostile is stored text that tries to drive a terminal: C0 and C1 control
// sequences (ESC, 8-bit CSI and OSC), DEL, carriage returns and newlines,
// bidirectional overrides and marks, line separators, and a stray byte
// that an 8-bit terminal reads as CSI.
const hostile = "a\x1b[2Jb\u009b31mc\u009d0;title\u0007d\x7fe\rf\ng\u202eh\u202ai\u2066j\u2069k\u200el\u200fm\u061cn\u2028o\u0085p" + "\x9b" + "q"

// unsafeForTerminal reports the first rune or byte in s that a terminal
// could act on, other than the newlines and tabs that lay out the output.
func unsafeForTerminal(s string) (string, bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return s[i : i+1], true
		case r == '\n' || r == '\t':
		case r < 0x20 || r >= 0x7f && r <= 0x9f,
			r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029:
			return string(r), true
		}
		i += n
	}
	return "", false
}

func hostileLog(t *testing.T) string {
	t.Helper()
	path, s := seeded(t)
	ch, _ := auditlog.NewChange("old"+hostile, "new"+hostile)
	id := int64(1)
	note, _ := json.Marshal(map[string]string{"note": strings.ToValidUTF8(hostile, "")})
	if err := s.Insert(context.Background(), []auditlog.Entry{{
		Timestamp: time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ObjectID: &id,
		ObjectRepr: "Dune" + hostile, Changes: auditlog.Changes{"title": ch}, ActorID: "7", ActorName: "mallory" + hostile,
		RemoteAddr: "=cmd|' /C calc'!A0", CorrelationID: "cid" + hostile, AdditionalData: note,
	}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// history shows stored text with every control, bidi override and stray
// byte escaped (visibly, so an auditor sees what was attempted).
func TestHistoryEscapesTerminalControls(t *testing.T) {
	t.Parallel()
	path := hostileLog(t)
	r := run(t, "", false, "history", "--db", path, "books", "1")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if c, bad := unsafeForTerminal(r.stdout); bad {
		t.Fatalf("history passes %q to the terminal:\n%s", c, r.stdout)
	}
	for _, want := range []string{`Dunea\u001b[2Jb\u009b31mc\u009d0;title\u0007d\u007fe\u000df\u000ag\u202eh`, `mallorya\u001b`, `cida\u001b`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, r.stdout)
		}
	}
}

// export to a terminal escapes what a terminal would act on: JSON Lines
// stay valid JSON with the same values, CSV shows the escapes. Into a pipe
// or a file the data is exact.
func TestExportToTerminalEscapes(t *testing.T) {
	t.Parallel()
	path := hostileLog(t)
	exportTo := func(format string, terminal bool) string {
		var out, errb bytes.Buffer
		code := auditcli.Run(context.Background(), []string{"export", "--db", path, "--format", format, "--model", "books"},
			auditcli.Env{Stdout: &out, Stderr: &errb, StdoutTerminal: terminal})
		if code != 0 {
			t.Fatalf("export %s: %d %s", format, code, errb.String())
		}
		return out.String()
	}
	jsonl := exportTo("jsonl", true)
	if c, bad := unsafeForTerminal(jsonl); bad {
		t.Fatalf("JSON Lines pass %q to the terminal:\n%s", c, jsonl)
	}
	var rec struct {
		ObjectRepr string `json:"object_repr"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(jsonl, "\n", 2)[0]), &rec); err != nil || rec.ObjectRepr != strings.ToValidUTF8("Dune"+hostile, "\uFFFD") {
		t.Fatalf("escaped JSON Lines do not keep the value: %q, %v", rec.ObjectRepr, err)
	}
	csvOut := exportTo("csv", true)
	if c, bad := unsafeForTerminal(csvOut); bad {
		t.Fatalf("CSV passes %q to the terminal:\n%s", c, csvOut)
	}
	if !strings.Contains(csvOut, `Dunea\u001b[2Jb\u009b31m`) {
		t.Fatalf("CSV to a terminal does not show the escapes:\n%s", csvOut)
	}
	// A line break in a value is escaped too: on a terminal a CSV cell's
	// line break reads as a row of its own.
	if !strings.Contains(csvOut, `f\u000ag`) || strings.Contains(csvOut, "\ng") {
		t.Fatalf("CSV to a terminal keeps a value's line break:\n%s", csvOut)
	}
	// Not a terminal: the exact data (the repr as stored: its stray byte,
	// which no database but SQLite stores in text, as U+FFFD).
	stored := "Dune" + strings.ToValidUTF8(hostile, "\uFFFD")
	if raw := exportTo("csv", false); !strings.Contains(raw, stored) {
		t.Fatalf("CSV into a pipe changed the data:\n%q", raw)
	}
	out := filepath.Join(t.TempDir(), "x.csv")
	if r := run(t, "", true, "export", "--db", path, "--format", "csv", "--output", out); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), stored) {
		t.Fatalf("CSV into a file changed the data")
	}
}

// Every CSV cell that a spreadsheet would read as a formula is prefixed
// with a quote: remote_addr and the JSON columns too.
func TestExportCSVFormulaGuard(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	id := int64(-1)
	formula := "=HYPERLINK(\"http://evil\")"
	ch, _ := auditlog.NewChange(formula, "@SUM(1)")
	if err := s.Insert(context.Background(), []auditlog.Entry{{
		Timestamp: time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "+model", ObjectPK: "-1", ObjectID: &id,
		ObjectRepr: formula, Changes: auditlog.Changes{"price": ch}, ActorID: "@actor", ActorName: "\tname", RemoteAddr: "=1+2",
		RemotePort: 80, CorrelationID: "-cid", AdditionalData: json.RawMessage(`-1`), SerializedData: json.RawMessage(`-2`),
	}}); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", false, "export", "--db", path, "--format", "csv", "--model", "+model")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d rows, %v:\n%s", len(rows), err, r.stdout)
	}
	for i, cell := range rows[1] {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			t.Errorf("column %s starts a formula: %q", rows[0][i], cell)
		}
	}
}

// Error messages and prompts that echo arguments or stored text escape
// terminal controls too.
func TestMessagesEscapeTerminalControls(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	evil := "x\x1b]0;pwned\x07\u009b2J\u202e"
	for _, args := range [][]string{
		{evil},
		{"export", "--" + evil},
		{"export", "--db", path, "--bogus=" + evil},
		{"flush", "--db", path, "--model", evil},
		{"flush", "--db", path, "--batch", evil},
		{"history", "--db", path, "--tz", evil, "a", "b"},
		{"export", "--db", path, "--since", evil},
		{"export", "--db", filepath.Join(t.TempDir(), evil+".db")},
		{"migrate", "--db", "sqlite:" + filepath.Join(t.TempDir(), evil+".db")},
	} {
		var out, errb bytes.Buffer
		code := auditcli.Run(context.Background(), args, auditcli.Env{Stdin: strings.NewReader("n\n"), Stdout: &out, Stderr: &errb, StdinTerminal: true})
		for _, s := range []string{out.String(), errb.String()} {
			if c, bad := unsafeForTerminal(s); bad {
				t.Errorf("%q (exit %d) passes %q to the terminal: %q", args, code, c, s)
			}
		}
	}
}

// prove and relay to stdout escape what a terminal would act on when
// stdout is one, as export does: the JSON stays valid and keeps its
// values. Into a pipe their bytes are exact.
func TestProveAndRelayToTerminalEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(t *testing.T, db string) []string
	}{
		{"prove", func(t *testing.T, db string) []string {
			keyFile, _ := sealKey(t, t.TempDir())
			if r := run(t, "", false, "seal", "--db", db, "--key-file", keyFile, "--once"); r.code != 0 {
				t.Fatalf("seal: %+v", r)
			}
			return []string{"prove", "--db", db, "7"}
		}},
		{"relay", func(t *testing.T, db string) []string {
			return []string{"relay", "--db", db, "--to", "jsonl:-", "--once", "--name", "tty"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := "sqlite:" + hostileLog(t)
			args := tc.args(t, db)
			var outputs [2]string
			for i, terminal := range []bool{true, false} {
				if tc.name == "relay" {
					args[len(args)-1] = fmt.Sprintf("tty%d", i) // each run publishes every entry
				}
				var out, errb bytes.Buffer
				code := auditcli.Run(context.Background(), args, auditcli.Env{Stdout: &out, Stderr: &errb, StdoutTerminal: terminal})
				if code != 0 {
					t.Fatalf("%q (terminal %v): exit %d: %s", args, terminal, code, errb.String())
				}
				outputs[i] = out.String()
			}
			tty, pipe := outputs[0], outputs[1]
			if c, bad := unsafeForTerminal(tty); bad {
				t.Fatalf("%s passes %q to the terminal:\n%s", tc.name, c, tty)
			}
			if !strings.Contains(tty, `\u009b31m`) || !strings.Contains(tty, `\u202e`) {
				t.Errorf("%s to a terminal does not show the escapes:\n%s", tc.name, tty)
			}
			if !strings.Contains(pipe, "\u009b31m") || !strings.Contains(pipe, "\u202e") {
				t.Errorf("%s into a pipe changed the data:\n%q", tc.name, pipe)
			}
			// The same JSON values either way.
			dec := func(s string) []any {
				var vs []any
				d := json.NewDecoder(strings.NewReader(s))
				for {
					var v any
					if err := d.Decode(&v); err != nil {
						break
					}
					vs = append(vs, v)
				}
				return vs
			}
			if a, b := dec(tty), dec(pipe); len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s: the escaped JSON does not hold the same values", tc.name)
			}
		})
	}
}

// A correlation id no entry has is quoted once in the error, escaped as Go
// quotes it: it was escaped for the terminal, then quoted, so its
// backslashes were doubled (`"\\u001b[2J"`).
func TestRevertOfAnUnknownCorrelationIDQuotesItOnce(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	r := run(t, "", false, "revert", "--db", path, "--cid", "\x1b[2J")
	if r.code == 0 || !strings.Contains(r.stderr, `no entries with correlation id "\x1b[2J"`) {
		t.Fatalf("%+v", r)
	}
}

// A plain SQLite path is taken literally, control characters included: a
// tab in a file name failed with the URL parser's error, which quoted the
// DSN the command builds.
func TestSQLitePathWithAControlCharacter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tab\there%41?x.db")
	if r := run(t, "", false, "migrate", "--db", path); r.code != 0 || strings.Contains(r.stderr, "_pragma") {
		t.Fatalf("%+v", r)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
	if r := run(t, "", false, "export", "--db", path); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
}

// A file that is no SQLite database, or no regular file, is said to be so
// (the driver said "invalid _pragma", a setting the user never gave, or
// "disk I/O error", and left a journal beside a device).
func TestSQLitePathThatIsNoDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "g.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("garbage\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{{garbage, "is not an SQLite database"}, {dir, "is not a regular file"}} {
		r := run(t, "", false, "history", "--db", c.path, "notes", "1")
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "_pragma") {
			t.Errorf("%s: %+v", c.path, r)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("files left: %v", names)
	}
}

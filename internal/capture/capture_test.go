package capture

import (
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/value"
)

func val(t *testing.T, x any) value.Value {
	t.Helper()
	v, err := value.Normalize(x, value.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTable(t *testing.T) {
	tb := &Table{
		Model: "books",
		Columns: []Column{
			{Name: "id", Audited: true}, {Name: "title", Audited: true},
			{Name: "secret", Audited: true, Masked: true}, {Name: "updated_at", Audited: true, Noise: true},
			{Name: "hidden"},
		},
		PK: []int{0}, IntPK: true, Snapshot: []int{0, 2},
		Mask: func(string) string { return "***" },
	}
	row := func(id int, title, secret string, at int, hidden string) []value.Value {
		return []value.Value{val(t, id), val(t, title), val(t, secret), val(t, at), val(t, hidden)}
	}
	a, b := row(7, "Dune", "pw1", 1, "x"), row(7, "Dune", "pw1", 2, "y")
	if c := tb.Diff(auditlog.ActionUpdate, a, b); c != nil {
		t.Fatalf("noise and unaudited columns made an update: %v", c)
	}
	c := tb.Diff(auditlog.ActionUpdate, a, row(7, "Emma", "pw2", 3, "x"))
	got, _ := json.Marshal(map[string]any{"title": [2]json.RawMessage{c["title"].Old, c["title"].New}, "secret": [2]json.RawMessage{c["secret"].Old, c["secret"].New}})
	if string(got) != `{"secret":["***","***"],"title":["Dune","Emma"]}` || len(c) != 2 {
		t.Fatalf("diff %s (%d changes)", got, len(c))
	}
	if k, id := tb.Key(a); k != "7" || id == nil || *id != 7 {
		t.Fatalf("key %q %v", k, id)
	}
	if s := string(tb.SnapshotOf(a)); s != `{"model":"books","pk":7,"fields":{"id":7,"secret":"***"}}` {
		t.Fatalf("snapshot %s", s)
	}
	if d := tb.Deleted(a); len(d) != 4 || string(d["secret"].Old) != `"***"` {
		t.Fatalf("deleted %v", d)
	}
	big := strings.Repeat("x", MaxValueBytes)
	if r := string(tb.Recorded(1, val(t, big))); !strings.HasPrefix(r, `{"$digest":"sha256:`) || !strings.HasSuffix(r, `"$bytes":1048578}`) {
		t.Fatalf("large value recorded as %.80s", r)
	}
	// IsDigest knows what Recorded writes, and only that.
	if !IsDigest(tb.Recorded(1, val(t, big))) || IsDigest(tb.Recorded(1, val(t, "small"))) {
		t.Fatal("IsDigest does not tell Recorded's digest from a value")
	}
	for _, lookalike := range []string{`{"$digest":"sha256:00","$bytes":2000000}`, `{"$digest":"sha256:` + strings.Repeat("ab", 32) + `","$bytes":10}`,
		`{"$digest":"sha256:` + strings.Repeat("ab", 32) + `","$bytes":2000000,"x":1}`} {
		if IsDigest([]byte(lookalike)) {
			t.Fatalf("%s taken for a digest", lookalike)
		}
	}
	composite := &Table{Columns: []Column{{Name: "a"}, {Name: "b"}}, PK: []int{0, 1}}
	if k, id := composite.Key([]value.Value{val(t, 1), val(t, "x")}); k != `[1,"x"]` || id != nil {
		t.Fatalf("composite key %q", k)
	}
}

func TestAdditionalData(t *testing.T) {
	for _, c := range []struct {
		extra map[string]any
		own   any
		want  string
	}{
		{nil, nil, ""},
		{map[string]any{"job": "sync"}, nil, `{"job":"sync"}`},
		{nil, map[string]any{"a": 1}, `{"a":1}`},
		{map[string]any{"a": 2, "job": "x"}, map[string]any{"a": 1}, `{"a":1,"job":"x"}`},
		{map[string]any{"job": "x"}, []int{1}, `{"data":[1],"job":"x"}`},
	} {
		got, err := AdditionalData(c.extra, c.own)
		if err != nil || string(got) != c.want {
			t.Errorf("AdditionalData(%v, %v) = %s, %v; want %s", c.extra, c.own, got, err, c.want)
		}
	}
}

// The package stays free of any data layer, so another adapter can reuse it.
func TestNoDataLayerImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "gorm") || strings.Contains(imp.Path.Value, "database/sql") {
				t.Errorf("%s imports %s", name, imp.Path.Value)
			}
		}
	}
}

func TestScrubber(t *testing.T) {
	t.Parallel()
	var s Scrubber
	if got := s.Text("plain"); got != "plain" || !s.Empty() {
		t.Fatalf("empty scrubber changed %q", got)
	}
	s.Add("abc", "***") // too short to look for
	s.Add("4111111111111111", "************1111")
	s.Add("41111111111111112222", "****************2222") // contains the other: longest first
	s.Add(`pa"ss<word>`, Excluded)
	for in, want := range map[string]string{
		"card 4111111111111111 and 41111111111111112222, abc": "card ************1111 and ****************2222, abc",
		`pw pa"ss<word>`: "pw " + Excluded,
	} {
		if got := s.Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
	raw, _ := json.Marshal(map[string]string{"pw": `pa"ss<word>`, "card": "x4111111111111111"})
	got := string(s.JSON(raw))
	if want := `{"card":"x************1111","pw":"[excluded]"}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	// A number equal to a secret becomes its stand-in; a number that only
	// contains one, and the literals, stay; the result is valid JSON.
	var pin Scrubber
	pin.Add("4242", "***2")
	pin.Add("null", "***l")
	for in, want := range map[string]string{
		`{"stock":4242,"n":142420,"bio":null,"pin":"4242"}`: `{"bio":null,"n":142420,"pin":"***2","stock":"***2"}`,
		`[4242, true]`: `["***2",true]`,
		`{not json`:    `{not json`,
	} {
		if got := string(pin.JSON(json.RawMessage(in))); got != want {
			t.Errorf("JSON(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestScrubberOfManyValues: a statement's scrubber knows the secrets of
// every row it wrote; past a few dozen it looks them up by a set, and
// still keeps one stand-in per clear value, the first given.
func TestScrubberOfManyValues(t *testing.T) {
	t.Parallel()
	var s Scrubber
	for i := range 1000 {
		s.Add(fmt.Sprintf("secret-%04d", i), Excluded)
		s.Add(fmt.Sprintf("secret-%04d", i), "other")
	}
	if n := len(s.pairs) / 2; n != 1000 {
		t.Fatalf("%d clear values kept, want 1000", n)
	}
	if got := s.Text("secret-0000 secret-0031 secret-0032 secret-0999 secret-1000"); got != "[excluded] [excluded] [excluded] [excluded] secret-1000" {
		t.Errorf("Text = %q", got)
	}
	// A number equal to a clear value is looked up by the set too.
	var n Scrubber
	for i := range 1000 {
		n.Add(fmt.Sprint(100000+i), fmt.Sprintf("stand-in %d", i))
	}
	if got := string(n.JSON(json.RawMessage(`[100000, 100999, 101000, "x100500"]`))); got != `["stand-in 0","stand-in 999",101000,"xstand-in 500"]` {
		t.Errorf("JSON = %s", got)
	}
}

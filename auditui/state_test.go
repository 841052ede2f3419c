package auditui

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestJSONPaths(t *testing.T) {
	t.Parallel()
	many := func(n int, v int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d":%d`, i, v)
		}
		return b.String() + "}"
	}
	for _, c := range []struct {
		old, new string
		want     string // path:old>new;… or "-" for no path view
	}{
		{`{"shelf":"E1","pages":339}`, `{"shelf":"D10","pages":339}`, `details.shelf:E1>D10`},
		{`{"a":{"b":[1,2,3]}}`, `{"a":{"b":[1,5,3]}}`, `details.a.b[1]:2>5`},
		{`{"a":[1,2]}`, `{"a":[1,2,3]}`, `details.a:[1,2]>[1,2,3]`},
		{`{"x y":1,"1a":2}`, `{"x y":2,"1a":3}`, `details["1a"]:2>3;details["x y"]:1>2`},
		{`{"a":1}`, `{"b":1}`, `details.a:1>absent;details.b:absent>1`},
		{`{"a":1.50}`, `{"a":1.5}`, `details.a:1.50>1.5`},
		{`{"a":1}`, `{"a":1}`, `-`},
		{`[1]`, `[2]`, `-`},
		{`{"a":1}`, `null`, `-`},
		{many(300, 1), many(300, 2), `-`},
	} {
		paths, ok := jsonPaths("details", json.RawMessage(c.old), json.RawMessage(c.new))
		got := "-"
		if ok {
			var parts []string
			for _, p := range paths {
				show := func(x cell) string {
					if x.Absent {
						return "absent"
					}
					return strings.ReplaceAll(strings.ReplaceAll(x.Text, "\n", ""), " ", "")
				}
				parts = append(parts, p.Path+":"+show(p.Old)+">"+show(p.New))
			}
			got = strings.Join(parts, ";")
		}
		if got != c.want {
			t.Errorf("%s → %s: %s, want %s", c.old, c.new, got, c.want)
		}
	}
}

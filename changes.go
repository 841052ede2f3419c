package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/go-auditlog/auditlog/internal/value"
)

// M2MOperation is what a many-to-many change did to a relation.
type M2MOperation string

// The many-to-many operations.
const (
	M2MAdd    M2MOperation = "add"
	M2MRemove M2MOperation = "remove"
	M2MClear  M2MOperation = "clear"
)

// valid reports whether o is one of the operations above.
func (o M2MOperation) valid() bool {
	return o == M2MAdd || o == M2MRemove || o == M2MClear
}

// M2MChange lists the related objects that a many-to-many change added or
// removed, by their repr. Keys, when set, holds each object's key (as an
// entry's ObjectPK), Objects[i]'s at Keys[i]; it is set only where a repr
// differs from its key, so that Objects alone are the keys where it is nil.
type M2MChange struct {
	Operation M2MOperation
	Objects   []string
	Keys      []string
}

// Change is what happened to one field: a value change with Old and New as
// typed JSON (null when absent), or a many-to-many change when M2M is set.
//
// Its JSON form is [old, new] for a value change and
// {"type": "m2m", "operation": …, "objects": […]} for a many-to-many change.
type Change struct {
	Old json.RawMessage
	New json.RawMessage
	M2M *M2MChange
}

// Changes maps a field's column name to its change.
type Changes map[string]Change

var jsonNull = json.RawMessage("null")

// NewChange returns a value change from old to new. The values are
// normalised as the capture path does (times as RFC 3339 UTC, pointers
// dereferenced, driver.Valuer types through their Value) and must encode to
// JSON.
func NewChange(old, new any) (Change, error) {
	o, err := value.Normalize(old, value.Options{})
	if err != nil {
		return Change{}, fmt.Errorf("auditlog: old value: %w", err)
	}
	n, err := value.Normalize(new, value.Options{})
	if err != nil {
		return Change{}, fmt.Errorf("auditlog: new value: %w", err)
	}
	oj, err := o.MarshalJSON()
	if err != nil {
		return Change{}, err
	}
	nj, err := n.MarshalJSON()
	if err != nil {
		return Change{}, err
	}
	return Change{Old: oj, New: nj}, nil
}

// OldValue decodes the old value into a Go value (numbers as json.Number).
func (c Change) OldValue() any { return decodeLoose(c.Old) }

// NewValue decodes the new value into a Go value (numbers as json.Number).
func (c Change) NewValue() any { return decodeLoose(c.New) }

func decodeLoose(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	return v
}

type m2mJSON struct {
	Type      string       `json:"type"`
	Operation M2MOperation `json:"operation"`
	Objects   []string     `json:"objects"`
	Keys      []string     `json:"keys,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (c Change) MarshalJSON() ([]byte, error) {
	if c.M2M != nil {
		// What UnmarshalJSON would not read back, or would read as
		// something else, is refused: a change is one or the other.
		if len(c.Old) > 0 || len(c.New) > 0 {
			return nil, errors.New("auditlog: a change with M2M set has no Old or New value")
		}
		if c.M2M.Keys != nil && len(c.M2M.Keys) != len(c.M2M.Objects) {
			return nil, fmt.Errorf("auditlog: an m2m change lists %d objects but %d keys", len(c.M2M.Objects), len(c.M2M.Keys))
		}
		if !c.M2M.Operation.valid() {
			return nil, fmt.Errorf("auditlog: unknown m2m operation %.20q", c.M2M.Operation)
		}
		objs := c.M2M.Objects
		if objs == nil {
			objs = []string{}
		}
		return json.Marshal(m2mJSON{Type: "m2m", Operation: c.M2M.Operation, Objects: objs, Keys: c.M2M.Keys})
	}
	old, new := c.Old, c.New
	if len(old) == 0 {
		old = jsonNull
	}
	if len(new) == 0 {
		new = jsonNull
	}
	var b bytes.Buffer
	b.Grow(len(old) + len(new) + 3)
	b.WriteByte('[')
	b.Write(old)
	b.WriteByte(',')
	b.Write(new)
	b.WriteByte(']')
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Change) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return errors.New("auditlog: empty change")
	}
	switch data[0] {
	case '[':
		var pair []json.RawMessage
		if err := json.Unmarshal(data, &pair); err != nil {
			return fmt.Errorf("auditlog: decode change: %w", err)
		}
		if len(pair) != 2 {
			return fmt.Errorf("auditlog: a change must be [old, new], got %d elements", len(pair))
		}
		*c = Change{Old: pair[0], New: pair[1]}
		return nil
	case '{':
		var m m2mJSON
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("auditlog: decode m2m change: %w", err)
		}
		if m.Type != "m2m" {
			return fmt.Errorf("auditlog: unknown change type %q", m.Type)
		}
		if m.Keys != nil && len(m.Keys) != len(m.Objects) {
			return fmt.Errorf("auditlog: an m2m change lists %d objects but %d keys", len(m.Objects), len(m.Keys))
		}
		if !m.Operation.valid() {
			// A state rebuilt from it would read it as no change at all.
			return fmt.Errorf("auditlog: unknown m2m operation %.20q", m.Operation)
		}
		*c = Change{M2M: &M2MChange{Operation: m.Operation, Objects: m.Objects, Keys: m.Keys}}
		return nil
	}
	return fmt.Errorf("auditlog: a change must be a JSON array or object, got %.20q", data)
}

// Fields returns the changed field names, sorted.
func (cs Changes) Fields() []string {
	names := make([]string, 0, len(cs))
	for k := range cs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// String summarises the changes on one line, fields sorted, every value
// as JSON, so that no stored text reads as another change or a string as
// a number: `price: 10 → 12; tags: add ["go", "sql"]; title: "Dune" → "Dune II"`.
// A field name other than letters, digits, '_' and '.' is quoted too.
func (cs Changes) String() string {
	var b strings.Builder
	for i, name := range cs.Fields() {
		if i > 0 {
			b.WriteString("; ")
		}
		c := cs[name]
		if plainName(name) {
			b.WriteString(name)
		} else {
			b.WriteString(quoteJSON(name))
		}
		b.WriteString(": ")
		if c.M2M != nil {
			b.WriteString(string(c.M2M.Operation))
			b.WriteString(" [")
			for j, o := range c.M2M.Objects {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(quoteJSON(o))
			}
			b.WriteString("]")
			continue
		}
		b.WriteString(displayJSON(c.Old))
		b.WriteString(" → ")
		b.WriteString(displayJSON(c.New))
	}
	return b.String()
}

// plainName reports whether a field name needs no quotes: letters, digits,
// '_' and '.' only.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && r != '.' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// quoteJSON is s as a JSON string, '<', '>' and '&' as themselves.
func quoteJSON(s string) string { return string(value.AppendJSONString(nil, s)) }

// displayJSON shows a JSON value as its JSON text, a string re-quoted
// ('<', '>' and '&' as themselves), and nothing as null.
func displayJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return quoteJSON(s)
		}
	}
	return string(raw)
}

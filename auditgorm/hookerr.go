package auditgorm

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// A failed statement's error may quote the values of the row it wrote or
// looked for: MariaDB's duplicate-key error quotes the key's value
// ("Duplicate entry 'x-y' for key 'k'", the columns of the key joined by
// '-', a secret column the statement did not even assign among them),
// its invalid-value errors the value, PostgreSQL's invalid-input errors
// the text it could not read. Hooks export that text (auditotel's span),
// so for a model with masked or excluded fields they see it with every
// value the database quoted hidden; the application's own error is left
// as the database wrote it.

// scrubbedError is a failed statement's error as the hooks see it: its
// text with the quoted values hidden, and the error itself underneath, for
// errors.Is and errors.As.
type scrubbedError struct {
	err  error
	text string
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// hiddenValue stands in for the values hidden from the hooks' error.
const hiddenValue = "[hidden]"

// scrubbed returns err as the hooks see it.
func (o *observation) scrubbed(db *gorm.DB, err error) error {
	if o == nil || (o.m == nil || len(o.m.secret) == 0) && len(o.secretJoins) == 0 {
		return err
	}
	text := err.Error()
	if inner := innermost(err); !fromDatabase(inner) && !strings.HasPrefix(inner.Error(), "auditgorm: ") && !isGORMs(inner) {
		// A driver's own error, before the server saw the statement
		// (pgx's "failed to encode args[1]: unable to encode 987654 into
		// binary format for int2 …"), prints values anywhere, quoted or
		// not: of the first error in the chain not the plugin's, only its
		// first words stay.
		text = hideClientError(text, foreign(err).Error())
	} else if msg, ok := raisedMessage(inner); ok {
		// A message a trigger or procedure wrote itself may name values
		// without quotes: all of it is hidden, its code kept.
		text = strings.Replace(text, msg, hiddenValue, 1)
	} else if o.m == nil {
		text = hideJoinValues(db, o.secretJoins, text)
	} else {
		text = o.m.hideValues(db, text)
	}
	if o.m != nil && len(o.m.secret) > 0 {
		// Whatever the message's shape (a trigger's SIGNAL that passes
		// for the server's own, quotes and all), the secret values the
		// statement itself sends appear nowhere in it.
		text = o.m.statementSecrets(db).Text(text)
	}
	if text == err.Error() {
		return err
	}
	return &scrubbedError{err: err, text: text}
}

// statementSecrets returns a scrubber of the clear values of m's secret
// fields that db's statement sends: in the objects it writes, in the maps
// it creates from, and in its SET assignments.
func (m *model) statementSecrets(db *gorm.DB) *capture.Scrubber {
	sc := &capture.Scrubber{}
	stmt := db.Statement
	add := func(f *field, v any) {
		if val, err := value.Normalize(v, f.opts); err == nil && !val.IsNull() {
			sc.Add(val.Text(), hiddenValue)
		}
	}
	if stmt.ReflectValue.IsValid() && stmt.Schema == m.schema {
		eachRow(stmt.ReflectValue, func(row reflect.Value) {
			for _, f := range m.secret {
				if fv := f.f.ReflectValueOf(stmt.Context, row); fv.IsValid() && fv.CanInterface() {
					add(f, fv.Interface())
				}
			}
		})
	}
	for _, mv := range createdMaps(stmt.Dest) {
		for k, v := range mv {
			if f := m.byColumn[k]; f != nil && (f.masked || f.excluded) {
				add(f, v)
			} else if sf := m.schema.LookUpField(k); sf != nil {
				if f := m.byColumn[sf.DBName]; f != nil && (f.masked || f.excluded) {
					add(f, v)
				}
			}
		}
	}
	if set, ok := setClause(stmt); ok {
		for _, a := range set {
			if f := m.byColumn[a.Column.Name]; f != nil && (f.masked || f.excluded) && boundValue(a.Value) {
				add(f, a.Value)
			}
		}
	}
	return sc
}

// innermost follows err's chain of single wraps to its end.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// foreign returns the first error in err's chain that is not the
// plugin's own wrap ("auditgorm: …: %w").
func foreign(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if !strings.HasPrefix(e.Error(), "auditgorm: ") {
			return e
		}
	}
	return err
}

// raisedMessage returns the message of err where a trigger or a procedure
// raised it with text of its own: PostgreSQL's RAISE (pgconn.PgError's
// Routine exec_stmt_raise, whatever ERRCODE it was given), MySQL's and
// MariaDB's SIGNAL (SQLSTATE class 45, error 1644, or an error number
// above the server's own, which SIGNAL's MYSQL_ERRNO may set). Read by
// reflection, so that auditgorm links no driver.
func raisedMessage(err error) (string, bool) {
	if msg, ok := sqliteRaised(err); ok {
		return msg, true
	}
	v := reflect.ValueOf(err)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", false
	}
	v = v.Elem()
	field := func(name string) reflect.Value { return v.FieldByName(name) }
	msg := field("Message")
	if !msg.IsValid() || msg.Kind() != reflect.String || msg.String() == "" {
		return "", false
	}
	switch reflect.TypeOf(err).String() {
	case "*pgconn.PgError":
		routine, where := field("Routine"), field("Where")
		if routine.IsValid() && routine.String() == "exec_stmt_raise" || where.IsValid() && strings.Contains(where.String(), " at RAISE") {
			return msg.String(), true
		}
	case "*mysql.MySQLError":
		number, state := field("Number"), field("SQLState")
		raised := number.IsValid() && number.CanUint() && (number.Uint() == 1644 || number.Uint() >= 5000)
		// The server's own messages quote what they name; one without a
		// quote is SIGNAL's, whatever number and SQLSTATE it took (1062,
		// 3819 to pass for a duplicate or a check), or a transient one.
		if !strings.ContainsAny(msg.String(), "'\"`") && number.IsValid() && number.CanUint() && !slices.Contains(mysqlPlain, number.Uint()) {
			raised = true
		}
		if state.IsValid() && state.Kind() == reflect.Array && state.Len() >= 2 && state.Index(0).Uint() == '4' && state.Index(1).Uint() == '5' {
			raised = true
		}
		if raised {
			return msg.String(), true
		}
	}
	return "", false
}

// mysqlPlain are the MySQL and MariaDB errors whose messages quote
// nothing and name no value: lock waits, deadlocks, interruptions, lost
// and refused connections, read-only servers.
var mysqlPlain = []uint64{1040, 1046, 1053, 1158, 1159, 1160, 1161, 1175, 1180, 1205, 1206, 1213, 1242, 1290, 1317, 1365, 1637, 1792, 1927, 1969, 2006, 2013, 3024, 4031}

// sqliteConstraint is how SQLite's own constraint errors begin; a
// trigger's RAISE(ABORT, …) message, also a constraint error (extended
// code SQLITE_CONSTRAINT_TRIGGER), may be any text, an expression of the
// row's values since SQLite 3.47.
var sqliteConstraint = regexp.MustCompile(`^((UNIQUE|NOT NULL|CHECK|FOREIGN KEY|PRIMARY KEY) constraint failed|cannot store \w+ value in \w+ column)`)

// sqliteRaised returns the message of a SQLite error a trigger raised:
// extended code 1811, or a constraint error (code 19) of no constraint's
// words where a driver tells the primary code alone. By reflection over
// the three drivers' error types.
func sqliteRaised(err error) (string, bool) {
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || !strings.Contains(reflect.TypeOf(err).String(), "sqlite") {
		return "", false
	}
	code := int64(-1)
	for _, name := range []string{"ExtendedCode", "Code"} {
		if m := reflect.ValueOf(err).MethodByName(name); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 {
			switch out := m.Call(nil)[0]; {
			case out.CanInt():
				code = out.Int()
			case out.CanUint():
				code = int64(out.Uint())
			}
			break
		}
		if f := v.FieldByName(name); f.IsValid() && f.CanInt() {
			code = f.Int()
			break
		}
	}
	msg := ""
	for _, name := range []string{"msg", "err"} {
		if f := v.FieldByName(name); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			msg = f.String()
			break
		}
	}
	if msg == "" {
		msg = err.Error()
	}
	// A driver's text may lead with the code's words.
	words := strings.TrimPrefix(strings.TrimPrefix(msg, "constraint failed: "), "sqlite3: constraint failed: ")
	switch {
	case code == 1811:
		return words, true
	case code&0xff == 19 && !sqliteConstraint.MatchString(words):
		return words, true
	}
	return "", false
}

// fromDatabase reports whether err is an error the database server (or
// SQLite's engine) reported, whose message quotes the values it names:
// PostgreSQL's (pgconn.PgError, told by its SQLState method), MySQL's,
// SQLite's drivers'. Told by type, so that auditgorm links no driver.
func fromDatabase(err error) bool {
	if _, ok := err.(interface{ SQLState() string }); ok {
		return true
	}
	switch reflect.TypeOf(err).String() {
	case "*mysql.MySQLError", "*sqlite3.Error", "sqlite3.Error", "*sqlite.Error":
		return true
	}
	return false
}

// isGORMs reports whether err is one of GORM's own errors, whose text
// holds no value.
func isGORMs(err error) bool {
	for _, e := range []error{gorm.ErrRecordNotFound, gorm.ErrInvalidTransaction, gorm.ErrNotImplemented, gorm.ErrMissingWhereClause,
		gorm.ErrUnsupportedRelation, gorm.ErrPrimaryKeyRequired, gorm.ErrModelValueRequired, gorm.ErrModelAccessibleFieldsRequired,
		gorm.ErrSubQueryRequired, gorm.ErrInvalidData, gorm.ErrUnsupportedDriver, gorm.ErrRegistered, gorm.ErrInvalidField,
		gorm.ErrEmptySlice, gorm.ErrDryRunModeUnsupported, gorm.ErrInvalidDB, gorm.ErrInvalidValue, gorm.ErrInvalidValueOfLength,
		gorm.ErrPreloadNotAllowed, gorm.ErrDuplicatedKey, gorm.ErrForeignKeyViolated, gorm.ErrCheckConstraintViolated,
		context.Canceled, context.DeadlineExceeded, ErrStatementPanicked} {
		if err == e {
			return true
		}
	}
	return false
}

// hideClientError hides the message inner, at the end of text, but for its
// first words ("failed to encode args[1]: [hidden]").
func hideClientError(text, inner string) string {
	prefix := strings.TrimSuffix(text, inner)
	if len(prefix) == len(text) {
		prefix = "" // not at its end: hide all of it
		inner = text
	}
	if i := strings.Index(inner, ": "); i >= 0 {
		return prefix + inner[:i+2] + hiddenValue
	}
	return prefix + hiddenValue
}

// duplicateEntry is MariaDB's and MySQL's duplicate-key message: the value
// is everything up to the last "' for key '", since the value's own quotes
// are not escaped.
var duplicateEntry = regexp.MustCompile(`(?s)^(.*?Duplicate entry ')(.*)(' for key '[^']*'.*)$`)

// raisedHere is an error a trigger or a procedure raised with a message of
// its own, which may name a row's values without quotes ("email … is
// blocked"): PostgreSQL's RAISE (SQLSTATE class P0), MySQL's and
// MariaDB's SIGNAL (SQLSTATE class 45, or error 1644). Its message is
// hidden whole; the code before it and the SQLSTATE after it stay.
var raisedHere = regexp.MustCompile(`(?s)^((?:ERROR|FATAL): )(.*?)(\s*\(SQLSTATE P0[0-9A-Z]{3}\))$|^(Error (?:1644 \([0-9A-Z]{5}\)|\d+ \(45[0-9A-Z]{3}\)): )(.*)$`)

// sqlState is the code PostgreSQL's errors end with.
var sqlState = regexp.MustCompile(`\s*\(SQLSTATE [0-9A-Z]{5}\)$`)

// hideValues returns text, a failed statement's error, with every value
// it quotes hidden. Values are what the databases quote ('…' on MySQL,
// "…" on PostgreSQL) and do not escape, so quotes cannot be paired once a
// value holds one: a quoted name of the model's own (its table, a column,
// an index GORM declares) is kept, and the text from the first quote that
// opens anything else is hidden whole, but for the error's SQLSTATE.
// MySQL's duplicate-key message keeps its key's name.
func (m *model) hideValues(db *gorm.DB, text string) string {
	if g := raisedHere.FindStringSubmatch(text); g != nil {
		return g[1] + g[4] + hiddenValue + g[3]
	}
	if g := duplicateEntry.FindStringSubmatch(text); g != nil {
		if m.publicKey(db, g[3]) {
			return text
		}
		return g[1] + hiddenValue + g[3]
	}
	return hideQuoted(text, func(s string) bool { return m.ownName(db, s) })
}

// hideJoinValues is hideValues for a write to a join table whose relations
// join a model with secrets (secretJoins): a join row is keys, so every
// value quoted is hidden, and names of the table and its columns kept.
func hideJoinValues(db *gorm.DB, joins []*m2mTrack, text string) string {
	if g := duplicateEntry.FindStringSubmatch(text); g != nil {
		return g[1] + hiddenValue + g[3]
	}
	return hideQuoted(text, func(s string) bool {
		if s == "" {
			return false
		}
		if s == db.Statement.Table {
			return true
		}
		for _, tr := range joins {
			if tr.join != nil && tr.join.LookUpField(s) != nil || slices.Contains(tr.ownerFK, s) || slices.Contains(tr.otherFK, s) {
				return true
			}
		}
		return false
	})
}

// hideQuoted hides, in text, everything from the first quote that opens
// anything but a name own keeps (and follows an identifier's word), but
// for the error's SQLSTATE.
func hideQuoted(text string, own func(string) bool) string {
	rest := text
	for {
		i := strings.IndexAny(rest, `'"`)
		if i < 0 {
			return text
		}
		j := strings.IndexByte(rest[i+1:], rest[i])
		if j < 0 || !identifierBefore(rest[:i]) || !own(rest[i+1:i+1+j]) {
			cut := len(text) - len(rest) + i
			return text[:cut] + hiddenValue + sqlState.FindString(text)
		}
		rest = rest[i+2+j:]
	}
}

// identifierBefore reports whether the message text before a quote names
// what follows as an identifier ("column …", "constraint …"): only there
// is a quoted own name kept, so that a value made of names and what lies
// between them is not.
func identifierBefore(before string) bool {
	fields := strings.Fields(strings.ToLower(before))
	if len(fields) == 0 {
		return false
	}
	switch fields[len(fields)-1] {
	case "column", "relation", "table", "constraint", "key", "index":
		return true
	}
	return false
}

// publicKey reports whether tail, the "' for key 'k'" end of a duplicate-key
// message, names a unique key of m none of whose columns is secret: its
// value, which the message quotes, is then no secret's.
func (m *model) publicKey(db *gorm.DB, tail string) bool {
	name, _, _ := strings.Cut(strings.TrimPrefix(tail, "' for key '"), "'")
	// MySQL 8 names the key table.key.
	name = strings.TrimPrefix(name, db.Statement.Table+".")
	fields := m.uniqueIndexes[name] // nil for an expression, a column not the model's
	if name == "PRIMARY" {
		fields = m.pk
	}
	for _, f := range fields {
		if slices.Contains(m.secret, f) {
			return false
		}
	}
	return len(fields) > 0
}

// ownName reports whether s is the name of the statement's table, of one
// of m's columns or of an index GORM declares for m.
func (m *model) ownName(db *gorm.DB, s string) bool {
	if s == "" {
		return false
	}
	_, index := m.indexes[s]
	return s == db.Statement.Table || s == m.schema.Table || m.byColumn[s] != nil || index
}

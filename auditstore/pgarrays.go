package auditstore

import (
	"context"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
)

// pgArrayInsertSQL inserts entries on PostgreSQL from one array per column,
// in array order: one statement text for every batch size (one prepared
// statement), fourteen bind variables, and every value parsed once.
const pgArrayInsertSQL = "INSERT INTO " + Table + " (" + insertColumns + ")" +
	` SELECT coalesce(u.t, ` + DBNow + `), u.a, u.m, u.pk, u.id, u.r, u.c, u.s, u.ad, u.ai, u.an, u.ra, u.rp, u.cid
FROM unnest($1::timestamptz[], $2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::jsonb[], $8::jsonb[], $9::jsonb[],
 $10::text[], $11::text[], $12::text[], $13::integer[], $14::text[])
 WITH ORDINALITY AS u(t, a, m, pk, id, r, c, s, ad, ai, an, ra, rp, cid, ord)
ORDER BY u.ord`

// pgArrays are the columns of a batch of entries, as arrays. A nil pointer
// is NULL.
type pgArrays struct {
	ts                       []*time.Time
	action                   []int16
	model, pk, repr          []string
	id                       []*int64
	changes, serialized, add []*string
	actorID, actorName, addr []*string
	port                     []*int32
	cid                      []*string
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// encodeArrays encodes entries as column arrays, up to jsonBatchBytes of
// values, and reports how many it took.
func encodeArrays(entries []auditlog.Entry, now time.Time) (*pgArrays, int, error) {
	n := len(entries)
	a := &pgArrays{
		ts: make([]*time.Time, 0, n), action: make([]int16, 0, n), model: make([]string, 0, n), pk: make([]string, 0, n),
		repr: make([]string, 0, n), id: make([]*int64, 0, n), changes: make([]*string, 0, n), serialized: make([]*string, 0, n),
		add: make([]*string, 0, n), actorID: make([]*string, 0, n), actorName: make([]*string, 0, n), addr: make([]*string, 0, n),
		port: make([]*int32, 0, n), cid: make([]*string, 0, n),
	}
	size := 0
	x := newEntryEncoder(Postgres, now)
	for i := range entries {
		if i > 0 && size >= jsonBatchBytes {
			return a, i, nil
		}
		r, err := x.encode(&entries[i])
		if err != nil {
			return nil, 0, err
		}
		e := r.e
		var ts *time.Time
		if t, ok := r.ts.(time.Time); ok {
			ts = &t
		}
		a.ts = append(a.ts, ts)
		a.action = append(a.action, int16(e.Action))
		a.model = append(a.model, e.Model)
		a.pk = append(a.pk, e.ObjectPK)
		a.repr = append(a.repr, e.ObjectRepr)
		a.id = append(a.id, e.ObjectID)
		var changes *string
		if e.Changes != nil {
			changes = &r.changes
		}
		a.changes = append(a.changes, changes)
		a.serialized = append(a.serialized, strPtr(string(e.SerializedData)))
		a.add = append(a.add, strPtr(string(e.AdditionalData)))
		a.actorID = append(a.actorID, strPtr(e.ActorID))
		a.actorName = append(a.actorName, strPtr(e.ActorName))
		a.addr = append(a.addr, strPtr(e.RemoteAddr))
		var port *int32
		if e.RemotePort != 0 {
			p := int32(e.RemotePort)
			port = &p
		}
		a.port = append(a.port, port)
		a.cid = append(a.cid, strPtr(e.CorrelationID))
		size += 64 + len(e.Model) + len(e.ObjectPK) + len(e.ObjectRepr) + len(r.changes) + len(e.SerializedData) + len(e.AdditionalData) +
			len(e.ActorID) + len(e.ActorName) + len(e.RemoteAddr) + len(e.CorrelationID)
	}
	return a, n, nil
}

func (a *pgArrays) args() []any {
	return []any{a.ts, a.action, a.model, a.pk, a.id, a.repr, a.changes, a.serialized, a.add, a.actorID, a.actorName, a.addr, a.port, a.cid}
}

// isArgConversion reports whether err is database/sql refusing an argument
// type before sending anything: a driver other than pgx's, which takes no
// Go slices as arrays.
func isArgConversion(err error) bool {
	return err != nil && strings.Contains(err.Error(), "converting argument")
}

// insertArrays inserts entries on PostgreSQL as column arrays. It reports
// false, having written nothing, when the driver takes no slices.
func insertArrays(ctx context.Context, db DBTX, entries []auditlog.Entry, now time.Time) (bool, error) {
	for start := 0; start < len(entries); {
		a, n, err := encodeArrays(entries[start:], now)
		if err != nil {
			return true, err
		}
		if _, err := db.ExecContext(ctx, pgArrayInsertSQL, a.args()...); err != nil {
			if start == 0 && isArgConversion(err) {
				return false, nil
			}
			return true, err
		}
		start += n
	}
	return true, nil
}

package auditcli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditcli"
	"github.com/go-auditlog/auditlog/auditgorm"
)

// A job that changed a gadget and logged an update recording no change
// (auditgorm.Log) under one correlation id: RevertCorrelation passes over
// that entry, but `auditlog revert --cid` put it in its plan, and the
// revert of the plan was refused whole.
func TestRevertCidPassesOverAnUpdateRecordingNoChange(t *testing.T) {
	db, dsn := openGadgets(t)
	ctx := auditlog.WithActor(auditlog.WithCorrelationID(context.Background(), "job-nc"), auditlog.Actor{ID: "u1"})
	g := Gadget{Name: "lamp", Price: 30}
	must(t, db.Create(&g).Error)
	must(t, db.WithContext(ctx).Model(&g).Update("price", 40).Error)
	must(t, auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionUpdate, Object: &g}))
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		OpenGORM: func(context.Context, auditcli.Target) (*gorm.DB, error) { return db, nil },
		Getenv:   func(string) string { return "" }}
	code := auditcli.Run(context.Background(), []string{"revert", "--db", dsn, "--yes", "--cid", "job-nc"}, env)
	var got Gadget
	must(t, db.First(&got, g.ID).Error)
	if code != 0 || got.Price != 30 {
		t.Errorf("revert --cid: exit %d, price %d after it\n%s%s", code, got.Price, out.String(), errb.String())
	}
}

// An access entry has nothing to undo, readable or not: one whose
// remote_port no longer reads back entered the plan with the rule above,
// and the whole revert was refused.
func TestRevertCidPassesOverAnUnreadableAccessEntry(t *testing.T) {
	db, dsn := openGadgets(t)
	ctx := auditlog.WithActor(auditlog.WithCorrelationID(context.Background(), "job-acc"), auditlog.Actor{ID: "u1"})
	g := Gadget{Name: "lamp", Price: 30}
	must(t, db.Create(&g).Error)
	must(t, db.WithContext(ctx).Model(&g).Update("price", 40).Error)
	must(t, auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionAccess, Object: &g}))
	must(t, db.Exec("UPDATE auditlog_entries SET remote_port = 70000 WHERE action = ?", int(auditlog.ActionAccess)).Error)
	var out, errb bytes.Buffer
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		OpenGORM: func(context.Context, auditcli.Target) (*gorm.DB, error) { return db, nil },
		Getenv:   func(string) string { return "" }}
	code := auditcli.Run(context.Background(), []string{"revert", "--db", dsn, "--yes", "--cid", "job-acc"}, env)
	var got Gadget
	must(t, db.First(&got, g.ID).Error)
	if code != 0 || got.Price != 30 {
		t.Errorf("revert --cid: exit %d, price %d after it\n%s%s", code, got.Price, out.String(), errb.String())
	}
}

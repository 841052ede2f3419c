package auditui_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// TestSealPages shows each entry's place in the sealed log and the latest
// checkpoint, escaped, and shows nothing of it without Config.Seal.
func TestSealPages(t *testing.T) {
	s, db := fixtureWithDB(t, "sqlite")
	skey, _, err := note.GenerateKey(rand.Reader, "example.com/<audit>")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	sealer, _ := auditseal.New(db, auditstore.SQLite, signer, signer.Name())
	if _, err := sealer.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO auditlog_entries (timestamp, action, model, object_pk, object_repr) VALUES ('2026-03-02 00:00:00.000000', 0, 'books', '9', 'late')"); err != nil {
		t.Fatal(err)
	}
	ui := newUI(t, s, auditui.Config{Seal: auditseal.NewReader(db, auditstore.SQLite)})
	if body := get(ui, http.MethodGet, "/seal").Body.String(); !strings.Contains(body, "No verification recorded") {
		t.Errorf("/seal before any verification:\n%s", body)
	}
	rep := auditseal.Report{Leaves: 6, Problems: []auditseal.Problem{{Kind: auditseal.EntryModified, EntryID: 4, Leaf: 3}}}
	if err := auditseal.Record(context.Background(), db, auditstore.SQLite, rep); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		code int
		want []string
	}{
		{"/entries/2", http.StatusOK, []string{"sealed as leaf 1, in the checkpoint of 6 entries signed", `href="/seal"`}},
		{"/entries/7", http.StatusOK, []string{"not yet sealed"}},
		{"/seal", http.StatusOK, []string{"6 entries, signed", "example.com/&lt;audit&gt;\n6\n", "problems found: 1</strong>, in 6 sealed entries", "entry modified: entry 4 (leaf 3)"}},
	} {
		rec := get(ui, http.MethodGet, tc.path)
		body := rec.Body.String()
		if rec.Code != tc.code {
			t.Fatalf("%s: %d\n%s", tc.path, rec.Code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in\n%s", tc.path, w, body)
			}
		}
	}
	plain := newUI(t, s, auditui.Config{})
	if rec := get(plain, http.MethodGet, "/seal"); rec.Code != http.StatusNotFound {
		t.Errorf("/seal without Config.Seal: %d", rec.Code)
	}
	if body := get(plain, http.MethodGet, "/entries/2").Body.String(); strings.Contains(body, "sealed") {
		t.Errorf("an entry's page without Config.Seal speaks of sealing")
	}
}

//go:build unix

package auditseal_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditseal"
)

// TestWitnessToAFIFO: a witness that is a FIFO (or a pipe: >(ship-it)) is
// written as before the torn-line mending: write-only, waiting for its
// reader, which reads the checkpoint. Opened to be read as well, it took
// no reader's absence for an error and lost the checkpoint.
func TestWitnessToAFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skip("no FIFO here:", err)
	}
	w := &auditseal.FileWitness{Path: path}
	done := make(chan error, 1)
	go func() {
		done <- w.Witness(context.Background(), 1, []byte("example.com/audit-test\n1\nAAAA\n\n— sig\n"))
	}()
	select {
	case err := <-done:
		t.Fatalf("the witness returned (%v) before a reader opened the FIFO", err)
	case <-time.After(200 * time.Millisecond):
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cps, err := auditseal.ReadCheckpoints(r)
	if err != nil || len(cps) != 1 {
		t.Errorf("the reader got %q, %v", cps, err)
	}
}

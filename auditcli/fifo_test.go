//go:build unix

package auditcli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe no one writes to, given as a file the command reads (a
// credential, a key, a checkpoint, a certificate), held the command in
// open for ever, where no signal stops it. It reads as empty at once.
func TestANamedPipeNoOneWritesIsRead(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--db", path, "--addr", "127.0.0.1:0", "--basic-auth-file", fifo}, "must hold USER:PASSWORD"},
		{[]string{"serve", "--db", path, "--addr", "127.0.0.1:0", "--token-env", "AUDIT_TOKEN", "--tls-cert", fifo, "--tls-key", fifo}, "--tls-cert/--tls-key"},
		{[]string{"seal", "--db", path, "--key-file", fifo, "--once"}, "key"},
		{[]string{"verify", "--db", path, "--pubkey", fifo}, "pubkey"},
	} {
		done := make(chan result, 1)
		go func() { done <- run(t, "", false, c.args...) }()
		select {
		case r := <-done:
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v: %d %q, want a failure saying %q", c.args[:1], r.code, r.stderr, c.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v: still waiting after 20 s for the named pipe", c.args)
		}
	}
}

// export --output --force renamed its file over whatever the path named:
// a symbolic link became a file (its target never written), a named pipe
// and a device were replaced (as root, /dev/full became a file), and the
// export said it had written them. Such a path is refused, whatever
// --force says, and left as it was.
func TestExportOverWhatIsNoFile(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target.txt")
	if err := os.WriteFile(target, []byte("target\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Not a device: on the code before, the test itself would replace it.
	for _, out := range []string{link, fifo} {
		before, err := os.Lstat(out)
		if err != nil {
			t.Fatal(err)
		}
		r := run(t, "", false, "export", "--db", path, "--output", out, "--force")
		if r.code == 0 || !strings.Contains(r.stderr, "is not a regular file") {
			t.Errorf("export --output %s --force: %+v", out, r)
		}
		if after, err := os.Lstat(out); err != nil || after.Mode() != before.Mode() {
			t.Errorf("%s: %v, mode %v, was %v", out, err, after.Mode(), before.Mode())
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "target\n" {
		t.Errorf("the link's target: %q", b)
	}
	// The temporary file's name is not the error's.
	r := run(t, "", false, "export", "--db", path, "--output", filepath.Join(dir, "missing", "x.csv"))
	if r.code == 0 || strings.Contains(r.stderr, ".tmp") || !strings.Contains(r.stderr, "x.csv") {
		t.Errorf("export into a missing directory: %+v", r)
	}
}

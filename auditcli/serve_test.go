package auditcli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditcli"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auditlog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// serve --tls-cert/--tls-key serves the UI over HTTPS only.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	certFile, keyFile, pool := selfSigned(t)
	base, out, errb, stop := startServe(t, "--db", path, "--addr", "127.0.0.1:0", "--token-env", "AUDIT_TOKEN", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(base, "https://") {
		stop()
		t.Fatalf("serve did not start on https: %s %s", out.String(), errb.String())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", base+"/?model=books", nil)
	req.Header.Set("Authorization", "Bearer "+testEnv["AUDIT_TOKEN"])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || !strings.Contains(string(body), "Dune") {
		t.Fatalf("over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port gets no page.
	plain := "http://" + strings.TrimPrefix(base, "https://")
	if resp, err := http.Get(plain + "/"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "Dune") {
			t.Fatalf("plain HTTP answered: %d", resp.StatusCode)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	if strings.Contains(errb.String(), "plain HTTP") {
		t.Fatalf("plain HTTP warning with TLS: %s", errb.String())
	}
}

// Off loopback without TLS, serve warns that credentials and entries cross
// the network in clear; with TLS or on loopback it does not.
func TestServePlainHTTPWarning(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	certFile, keyFile, _ := selfSigned(t)
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--addr", "0.0.0.0:0", "--token-env", "AUDIT_TOKEN"}, true},
		{[]string{"--addr", ":0", "--basic-auth-env", "AUDIT_BASIC"}, true},
		{[]string{"--addr", "0.0.0.0:0", "--token-env", "AUDIT_TOKEN", "--tls-cert", certFile, "--tls-key", keyFile}, false},
		{[]string{"--addr", "127.0.0.1:0", "--token-env", "AUDIT_TOKEN"}, false},
	} {
		base, out, errb, stop := startServe(t, append([]string{"--db", path}, tc.args...)...)
		code := stop()
		if base == "" || code != 0 {
			t.Fatalf("%v: did not start: %d %s %s", tc.args, code, out.String(), errb.String())
		}
		if warned := strings.Contains(errb.String(), "warning: serving over plain HTTP on a non-loopback address"); warned != tc.warn {
			t.Errorf("%v: warning %v: %q", tc.args, warned, errb.String())
		}
	}
}

// boundedServe runs serve with a credential file; a serve that starts
// stops after two seconds.
func boundedServe(path, credFile string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := auditcli.Run(ctx, []string{"serve", "--db", path, "--addr", "127.0.0.1:0", "--basic-auth-file", credFile}, auditcli.Env{Stdout: &out, Stderr: &errb})
	return result{code, out.String(), errb.String()}
}

// Bad credential files and TLS settings are clear errors that never show
// what a credential file holds.
func TestServeBadCredentials(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile, keyFile, _ := selfSigned(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--basic-auth-file", filepath.Join(dir, "missing")}, 2, "--basic-auth-file: cannot read"},
		{[]string{"--basic-auth-file", write("empty", "")}, 2, "--basic-auth-file: " + filepath.Join(dir, "empty") + " must hold USER:PASSWORD"},
		{[]string{"--basic-auth-file", write("nocolon", "SecretNoColonHere\n")}, 2, "must hold USER:PASSWORD"},
		{[]string{"--basic-auth-file", write("short", "auditor:Short1\n")}, 2, "at least 8 characters"},
		{[]string{"--basic-auth-file", write("twolines", "auditor:correct-horse\nmore:SecretSecond\n")}, 2, "one line"},
		{[]string{"--basic-auth-file", dir}, 2, "--basic-auth-file: cannot read"},
		{[]string{"--basic-auth-file", os.DevNull}, 2, "must hold USER:PASSWORD"},
		{[]string{"--basic-auth-file", "/dev/zero"}, 2, "larger than 4096 bytes"},
		{[]string{"--basic-auth-env", "UNSET_VAR"}, 2, "--basic-auth-env: no variable of that name is set"},
		{[]string{"--basic-auth-env", "EMPTY_VAR"}, 2, "--basic-auth-env: no variable of that name is set"},
		{[]string{"--basic-auth-env", "SHORT_BASIC"}, 2, "--basic-auth-env: $SHORT_BASIC must hold USER:PASSWORD"},
		// Credentials given where their variable's or file's name belongs
		// are not echoed.
		{[]string{"--basic-auth-env", "admin:Sup3rSecretPw"}, 2, "--basic-auth-env: no variable of that name is set"},
		{[]string{"--token-env", "c0ffee-secret-token-1234567890"}, 2, "--token-env: no variable of that name is set"},
		{[]string{"--token-env", "AbcdSecretToken123456"}, 2, "--token-env: no variable of that name is set"},
		{[]string{"--token-env", "SHORT_BASIC"}, 2, "--token-env: $SHORT_BASIC must hold a token of at least 16 characters"},
		{[]string{"--basic-auth-file", "admin:Sup3rSecretPw"}, 2, "--basic-auth-file: cannot read the file it names"},
		{[]string{"--basic-auth-file", write("adm", "") + "/in:Sup3rSecretPw"}, 2, "--basic-auth-file: cannot read the file it names: not a directory"},
		{[]string{"--basic-auth-file", "admin:Sup3rSecretPw" + strings.Repeat("k", 300)}, 2, "--basic-auth-file: cannot read the file it names"},
		// The value given after a flag that takes a name, as an argument.
		{[]string{"--token-env", "AUDIT_TOKEN", "c0ffee-secret-token-1234567890"}, 2, "unexpected argument"},
		{[]string{"--basic-auth-env", "AUDIT_BASIC", "--token-env", "AUDIT_TOKEN"}, 2, "choose one"},
		{[]string{"--token-env", "AUDIT_TOKEN", "--tls-cert", certFile}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--token-env", "AUDIT_TOKEN", "--tls-key", keyFile}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--token-env", "AUDIT_TOKEN", "--tls-cert", keyFile, "--tls-key", certFile}, 1, "--tls-cert/--tls-key: cannot load"},
		{[]string{"--token-env", "AUDIT_TOKEN", "--tls-cert", filepath.Join(dir, "nope.pem"), "--tls-key", keyFile}, 1, "--tls-cert/--tls-key: cannot load"},
	}
	for _, tc := range cases {
		r := run(t, "", false, append([]string{"serve", "--db", path, "--addr", "127.0.0.1:0"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		for _, secret := range []string{"SecretNoColonHere", "Short1", "SecretSecond", "correct-horse", "PRIVATE KEY", "Sup3rSecretPw", "c0ffee-secret", "AbcdSecretToken", "shortpw"} {
			if strings.Contains(r.stderr+r.stdout, secret) {
				t.Errorf("%v: the output shows %q: %s", tc.args, secret, r.stderr)
			}
		}
	}
	// A credential file that others can write is refused: whoever can
	// write it sets the password.
	for _, mode := range []os.FileMode{0o602, 0o620, 0o666} {
		open := write(fmt.Sprintf("open%o", mode), "auditor:correct-horse\n")
		if err := os.Chmod(open, mode); err != nil {
			t.Fatal(err)
		}
		r := boundedServe(path, open)
		if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("is writable by other users (mode %04o); chmod 600 it", mode)) || strings.Contains(r.stderr, "correct-horse") {
			t.Errorf("mode %o: %+v", mode, r)
		}
	}
	// One that another user owns is refused too: its owner can rewrite it
	// whatever its mode (root, who can anyway, may own it).
	if os.Getuid() == 0 {
		theirs := write("theirs", "auditor:correct-horse\n")
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		r := boundedServe(path, theirs)
		if r.code != 2 || !strings.Contains(r.stderr, "belongs to another user (uid 65534)") || strings.Contains(r.stderr, "correct-horse") {
			t.Errorf("a credential file of another user: %+v", r)
		}
	}
	// A credential file that others can read gets a warning.
	loose := write("loose", "auditor:correct-horse\n")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	base, out, errb, stop := startServe(t, "--db", path, "--addr", "127.0.0.1:0", "--basic-auth-file", loose)
	stop()
	if base == "" || !strings.Contains(errb.String(), "readable by other users") {
		t.Fatalf("loose credential file: %s %s", out.String(), errb.String())
	}
}

// An idle connection is closed after a while, by serve and the demo:
// connections that sent a request (refused without credentials, say) and
// then nothing were held for ever, so that a client could hold as many as
// the process may open and lock every other client out.
func TestServeClosesIdleConnections(t *testing.T) {
	defer auditcli.SetIdleTimeout(300 * time.Millisecond)()
	path, _ := seeded(t)
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("auditor:correct-horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--db", path, "--addr", "127.0.0.1:0", "--basic-auth-file", file},
		{"demo", "--addr", "127.0.0.1:0", "--dir", t.TempDir()},
	} {
		base := startServer(t, args...)
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		host := strings.TrimPrefix(base, "http://")
		if _, err := fmt.Fprintf(c, "GET /audit/ HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		// Nothing more is sent: the server closes the connection.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := br.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: an idle connection after a %d: read %d, %v; want it closed", args[0], res.StatusCode, n, err)
		}
	}
}

// serve's challenge to a client without credentials carries the UI's
// protective headers, as the UI's own pages do.
func TestServeChallengeHeaders(t *testing.T) {
	t.Parallel()
	path, _ := seeded(t)
	file := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(file, []byte("auditor:correct-horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, "serve", "--db", path, "--addr", "127.0.0.1:0", "--basic-auth-file", file)
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := res.Header
	if res.StatusCode != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("%d, headers %v", res.StatusCode, h)
	}
}

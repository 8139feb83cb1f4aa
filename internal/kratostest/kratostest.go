// Package kratostest starts a real Ory Kratos server for tests and offers
// helpers that put it into known states: identities, password sessions,
// TOTP and lookup-secret credentials. It can also use recovery links and
// codes the way a user's browser would, to check that they work.
//
// Each call to Start runs its own Kratos process with an in-memory database
// on free loopback ports, so tests may start several in parallel. The binary
// is built once by ./scripts/test into bin/kratos at the module root; when it
// is missing the test is skipped, or fails when CI=true.
//
// The configuration (testdata/kratos.yml) enables the password, TOTP,
// lookup-secret, code and link methods and recovery by code, hashes with
// bcrypt cost 4, and sets required_aal to aal1 for whoami and settings, so
// a password session stays valid after TOTP is added. No email is sent.
package kratostest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	client "github.com/ory/client-go"
)

// Password is the password of every identity made by CreateIdentity.
const Password = "orybot-Test-Passw0rd-7f3c"

const modulePath = "github.com/orybot/orybot"

// startTimeout bounds how long Start waits for /admin/health/ready. Kratos
// needs about a second, but several may start at once on a small CI box.
const startTimeout = 60 * time.Second

var (
	//go:embed testdata/kratos.yml
	configYAML []byte
	//go:embed testdata/identity.schema.json
	identitySchema []byte
)

// Server is a running Kratos process owned by one test.
type Server struct {
	// AdminURL is the base URL of the admin API, without a trailing slash.
	AdminURL string
	// PublicURL is the base URL of the public API, without a trailing slash.
	PublicURL string

	admin  *client.APIClient
	public *client.APIClient
}

// Start runs a fresh Kratos for t and stops it when t ends.
//
// The binary comes from $KRATOS_BIN or else bin/kratos at the module root;
// if it is missing, Start skips t (fails it when CI=true).
// Kratos's own log goes to a file in t.TempDir and is copied to t.Log only
// if the test fails.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := findBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "kratos.yml")
	if err := os.WriteFile(cfgPath, configYAML, 0o600); err != nil {
		t.Fatalf("kratostest: write config: %v", err)
	}

	// Free ports are found by binding :0 and closing; another process can
	// grab one in between, so a start that dies early is retried.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		s, err := start(t, bin, dir, cfgPath, attempt, o)
		if err == nil {
			return s
		}
		lastErr = err
		t.Logf("kratostest: attempt %d: %v", attempt, err)
	}
	t.Fatalf("kratostest: could not start Kratos: %v", lastErr)
	return nil
}

func findBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("KRATOS_BIN")
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("kratostest: %v", err)
		}
		bin = filepath.Join(root, "bin", "kratos")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Kratos binary not found at %s: build it with ./scripts/test (or set KRATOS_BIN); CI=true turns this skip into a failure", bin)
		} else {
			t.Skipf("Kratos binary not found at %s; run ./scripts/test once to build it (or set KRATOS_BIN)", bin)
		}
	}
	return bin
}

// moduleRoot walks up from the working directory to the directory whose
// go.mod declares this module. Nested modules (internal/tools/kratos) are
// passed over.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(data) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func moduleLine(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			rest, _, _ = strings.Cut(rest, "//")
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

func start(t testing.TB, bin, dir, cfgPath string, attempt int, o options) (*Server, error) {
	t.Helper()
	publicPort, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		AdminURL:  fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		PublicURL: fmt.Sprintf("http://127.0.0.1:%d", publicPort),
	}

	logPath := filepath.Join(dir, fmt.Sprintf("kratos-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	list := []map[string]string{{
		"id":  "default",
		"url": "base64://" + base64.StdEncoding.EncodeToString(identitySchema),
	}}
	for _, sc := range o.schemas {
		list = append(list, map[string]string{"id": sc.id, "url": "base64://" + base64.StdEncoding.EncodeToString(sc.schema)})
	}
	schemas, _ := json.Marshal(list)

	cmd := exec.Command(bin, "serve", "-c", cfgPath, "--sqa-opt-out", "--dev")
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A clean environment: a developer's DSN or SERVE_* variables would
	// otherwise override the test configuration.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"TMPDIR=" + dir,
		"DSN=memory",
		"SQA_OPT_OUT=true",
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", publicPort),
		fmt.Sprintf("SERVE_ADMIN_PORT=%d", adminPort),
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_ADMIN_HOST=127.0.0.1",
		"SERVE_PUBLIC_BASE_URL=" + s.PublicURL + "/",
		"SERVE_ADMIN_BASE_URL=" + s.AdminURL + "/",
		"IDENTITY_SCHEMAS=" + string(schemas),
	}
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
	}

	if err := waitReady(s.AdminURL, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w\n--- kratos log ---\n%s", err, tail(logPath))
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("kratostest: Kratos log (%s):\n%s", logPath, tail(logPath))
		}
	})

	s.admin = newAPIClient(s.AdminURL)
	s.public = newAPIClient(s.PublicURL)
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(adminURL string, exited <-chan error) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("kratos exited before it was ready: %v", err)
		default:
		}
		resp, err := hc.Get(adminURL + "/admin/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("kratos not ready after %v", startTimeout)
}

// tail returns the end of the log file, enough to see why Kratos failed.
func tail(path string) string {
	const max = 32 << 10
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	if len(data) > max {
		data = append([]byte("…\n"), data[len(data)-max:]...)
	}
	return string(data)
}

func newAPIClient(baseURL string) *client.APIClient {
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: baseURL}}
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	cfg.UserAgent = "kratostest"
	return client.NewAPIClient(cfg)
}

func ctx(t testing.TB) context.Context {
	if c := t.Context(); c.Err() == nil {
		return c
	}
	return context.Background()
}

// describe adds the response body to a client-go error, whose Error() is
// only the status line.
func describe(resp *http.Response, err error) error {
	var apiErr *client.GenericOpenAPIError
	if errors.As(err, &apiErr) && len(apiErr.Body()) > 0 {
		return fmt.Errorf("%w: %s", err, apiErr.Body())
	}
	if resp != nil && resp.Body != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if len(body) > 0 {
			return fmt.Errorf("%w: %s", err, body)
		}
	}
	return err
}

// Package testservers starts real outside servers for tests, each on free
// loopback ports in a temporary directory, stopped by the test (or with
// it): SeaweedFS's S3 gateway (StartS3), a nats-server with JetStream
// (StartNATS) and a PostgreSQL cluster of the test's own (StartPostgres).
// SeaweedFS and nats-server are built from tools/go.mod, never from
// Wharf's own go.mod; PostgreSQL is the machine's (Debian's package).
// Without a server a test is skipped loudly on a developer's machine and
// fails under CI=true. It imports nothing of Wharf; package tests (store,
// blob/s3, events/natsbus) and the e2e harness use it.
package testservers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// seaweedModule is the module tools/go.mod pins; the binary's cache name
// carries its version, so a bump rebuilds it.
const (
	seaweedModule  = "github.com/seaweedfs/seaweedfs"
	seaweedPackage = seaweedModule + "/weed"
)

// S3 is a running S3 gateway with one bucket and one identity allowed
// everything on it.
type S3 struct {
	// Endpoint is host:port (plain HTTP, 127.0.0.1).
	Endpoint  string
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	// Dir is the server's data directory (removed at the end of the test).
	Dir string
}

// URL is the --blobs value naming this bucket: s3://BUCKET?endpoint=…
func (s *S3) URL() string {
	return fmt.Sprintf("s3://%s?endpoint=http://%s&region=%s", s.Bucket, s.Endpoint, s.Region)
}

// Env is what a Wharf process needs in its environment to reach the
// bucket (the credentials are never on a command line).
func (s *S3) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey}
}

// Client is a plain minio-go client on the server, for tests that look
// behind the store's back.
func (s *S3) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := s.client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *S3) client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: s.Region,
	})
}

// skipOrFail skips the test loudly, or fails it under CI=true: a skipped
// S3 test is not a passed one.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
	t.Skip(msg)
}

var weedBuild struct {
	once sync.Once
	bin  string
	err  error
}

// Weed returns the path of SeaweedFS's weed binary: $WHARF_WEED when set,
// else bin/tools/weed-VERSION in the module's root (VERSION from
// tools/go.mod), built there when missing (`make weed` builds it ahead; a
// build takes minutes on a small machine). Without it the test is skipped
// loudly, or failed under CI=true.
func Weed(t testing.TB) string {
	t.Helper()
	weedBuild.once.Do(func() { weedBuild.bin, weedBuild.err = findWeed() })
	if weedBuild.err != nil {
		skipOrFail(t, "SeaweedFS (weed) unavailable, THE S3 BLOB STORE IS NOT TESTED: "+weedBuild.err.Error())
	}
	return weedBuild.bin
}

func findWeed() (string, error) {
	if p := os.Getenv("WHARF_WEED"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("WHARF_WEED: %w", err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	version, err := toolVersion(filepath.Join(root, "tools", "go.mod"), seaweedModule)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "tools", "weed-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "testservers: building %s (tools/go.mod) into %s; this takes minutes once\n", seaweedPackage, bin)
	// Built under a temporary name and renamed, so that test binaries of
	// several packages building at once never run a half-written file.
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-modfile=tools/go.mod", "-o", tmp, seaweedPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %v\n%s", seaweedPackage, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// moduleRoot is the directory of Wharf's go.mod, found upwards from the
// test's working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/wharfhq/wharf\n")) ||
			err == nil && strings.Contains(string(b), "\nmodule github.com/wharfhq/wharf\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module github.com/wharfhq/wharf above the working directory")
		}
		dir = parent
	}
}

// toolVersion reads the version tools/go.mod requires of module.
func toolVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == module {
			return fields[1], nil
		}
		if len(fields) >= 3 && fields[0] == "require" && fields[1] == module {
			return fields[2], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// freePort is a TCP port free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := pickPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pickPort is freePort for code without a testing.TB.
func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testservers: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the server's output for the failure log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartS3 runs `weed server -s3` (master, volume server, filer and S3
// gateway in one process) on free 127.0.0.1 ports in a temporary
// directory, with one identity (random access key and secret) allowed
// everything, waits until S3 answers, creates a bucket, and stops the
// server (SIGKILL, then waits) at the end of the test. Telemetry is off:
// the server talks to nothing but loopback.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	srv, err := startS3(Weed(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			t.Logf("weed server output (last 8 KiB):\n%s", srv.Output())
		}
	})
	return srv.S3
}

// S3Server is a gateway started by RunS3, outside a test (benchmarks).
type S3Server struct {
	*S3
	cmd    *exec.Cmd
	exited chan struct{}
	grpc   map[string]string
	out    *lockedBuffer
}

// RunS3 is StartS3 for a program that is not a test: the same server, with
// the weed binary found as Weed finds it; the caller stops it with Stop.
func RunS3() (*S3Server, error) {
	weedBuild.once.Do(func() { weedBuild.bin, weedBuild.err = findWeed() })
	if weedBuild.err != nil {
		return nil, fmt.Errorf("testservers: SeaweedFS (weed) unavailable: %w", weedBuild.err)
	}
	return startS3(weedBuild.bin)
}

// Pid is the server's process id (its CPU time is in /proc/PID/stat).
func (s *S3Server) Pid() int { return s.cmd.Process.Pid }

// Output is the last 8 KiB the server printed.
func (s *S3Server) Output() string { return tail(s.out.String(), 8<<10) }

// Stop kills the server, waits for it and removes its directory and
// sockets.
func (s *S3Server) Stop() {
	s.cmd.Process.Kill()
	<-s.exited
	for svc, p := range s.grpc {
		os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%s.sock", svc, p))
	}
	os.RemoveAll(s.Dir)
}

func startS3Once(bin string) (_ *S3Server, err error) {
	dir, err := os.MkdirTemp("", "wharf-s3-") // short: the unix sockets live in it
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	key, err := randomHexErr(8)
	if err != nil {
		return nil, err
	}
	secret, err := randomHexErr(20)
	if err != nil {
		return nil, err
	}
	s := &S3{
		Region:    "us-east-1",
		Bucket:    "wharf-test",
		AccessKey: "WHARF" + strings.ToUpper(key),
		SecretKey: secret,
		Dir:       dir,
	}
	conf := map[string]any{"identities": []any{map[string]any{
		"name":        "wharf",
		"credentials": []any{map[string]string{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, _ := json.Marshal(conf)
	confPath := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(confPath, b, 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	// Nine distinct ports: each picked port is held until all are (two
	// picks once returned the same port, and the server exited).
	ports, perr := pickPorts(9)
	port := func() string {
		if len(ports) == 0 {
			return "0"
		}
		p := ports[0]
		ports = ports[1:]
		return strconv.Itoa(p)
	}
	s3Port := port()
	s.Endpoint = "127.0.0.1:" + s3Port
	// The gRPC ports also name unix sockets the server makes in /tmp
	// whatever its flags say; they are removed after it stops.
	grpc := map[string]string{"master": port(), "volume": port(), "filer": port(), "s3": port()}
	args := []string{"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		"-master.port=" + port(), "-master.port.grpc=" + grpc["master"],
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64",
		"-volume.port=" + port(), "-volume.port.grpc=" + grpc["volume"], "-volume.max=64",
		"-filer", "-filer.port=" + port(), "-filer.port.grpc=" + grpc["filer"],
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + s3Port, "-s3.port.grpc=" + grpc["s3"],
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.config=" + confPath,
	}
	if perr != nil {
		return nil, perr
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// The identity comes from the config file only; a developer's own AWS
	// variables must not leak into the server.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "WEED_") && !strings.HasPrefix(kv, "S3_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	dieWithParent(cmd)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &S3Server{S3: s, cmd: cmd, exited: make(chan struct{}), grpc: grpc, out: out}
	go func() { cmd.Wait(); close(srv.exited) }()
	defer func() {
		if err != nil {
			srv.Stop()
		}
	}()

	c, err := s.client()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region})
		if err == nil {
			cancel()
			break
		}
		var ok bool
		ok, err2 := c.BucketExists(ctx, s.Bucket)
		cancel()
		if err2 == nil && ok {
			break
		}
		select {
		case <-srv.exited:
			return nil, fmt.Errorf("%w: %v\n%s", errExitedEarly, err, srv.Output())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("S3 on %s did not answer within 90 s: %v", s.Endpoint, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The bucket exists once the filer has it; writes need a volume too.
	// One small object written and removed proves the whole path.
	deadline = time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.PutObject(ctx, s.Bucket, "ready-probe", strings.NewReader("ok"), 2, minio.PutObjectOptions{})
		if err == nil {
			err = c.RemoveObject(ctx, s.Bucket, "ready-probe", minio.RemoveObjectOptions{})
		}
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("S3 on %s accepts no write within 60 s: %v", s.Endpoint, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return srv, nil
}

// startS3 starts the gateway for StartS3 and RunS3. A port picked free
// may be taken by another process before the server binds it (tests
// start servers in parallel): a server that exits before it answers is
// started again, on other ports, twice at most.
func startS3(bin string) (*S3Server, error) {
	for attempt := 1; ; attempt++ {
		srv, err := startS3Once(bin)
		if err == nil || attempt == 3 || !errors.Is(err, errExitedEarly) {
			return srv, err
		}
	}
}

// errExitedEarly: the server exited before S3 answered.
var errExitedEarly = errors.New("weed server exited before S3 answered")

// pickPorts returns n distinct TCP ports free on 127.0.0.1 a moment ago:
// each is held until all are picked.
func pickPorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testservers: find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHexErr(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

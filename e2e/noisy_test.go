package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// TestNoisyNeighbour: while one client hammers wrong passwords and another
// holds as many event sockets and maximal subscriptions as it is allowed
// (and keeps asking for more), four clients of another user upload, list
// and read from the same address: they see no error, and their p99
// latency stays within twice that of a quiet run of the same work.
//
// It is a timed comparison, so make soak runs it
// (WHARF_NOISY_DURATION=30s per phase); make test does not.
func TestNoisyNeighbour(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("WHARF_NOISY_DURATION"))
	if err != nil || dur <= 0 {
		t.Skip("a timed comparison: make soak runs it (WHARF_NOISY_DURATION)")
	}
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	mustWharf(t, data, "alice password 1\n", "user", "add", "alice", "--password-stdin")
	mustWharf(t, data, "", "space", "grant", "files", "alice", "editor")
	alicePW := mustWharf(t, data, "", "apppass", "create", "alice", "--label", "laptop")
	mustWharf(t, data, "mallory password 1\n", "user", "add", "mallory", "--password-stdin")
	mustWharf(t, data, "olga password 1\n", "user", "add", "olga", "--password-stdin")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)

	do := func(method, path, user, pass string, body []byte, hdr ...string) (int, error) {
		r, err := http.NewRequest(method, in.URL+path, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		if body == nil {
			r.Body, r.ContentLength = http.NoBody, 0
		}
		r.SetBasicAuth(user, pass)
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ":")
			r.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := client.Do(r)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := do("MKCOL", "/dav/spaces/files/n/", "alice", alicePW, nil); err != nil || st != http.StatusCreated {
		t.Fatalf("MKCOL n/: %d %v", st, err)
	}

	// work runs the four clients for d and returns their latencies and
	// errors.
	body := bytes.Repeat([]byte("w"), 4<<10)
	work := func(phase string, d time.Duration) (lat []time.Duration, errs []string) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for c := range 4 {
			wg.Go(func() {
				for i := 0; time.Now().Before(deadline); i++ {
					name := fmt.Sprintf("/dav/spaces/files/n/%s-%d-%d.txt", phase, c, i%50)
					for _, op := range []struct {
						method, path string
						body         []byte
						want         []int
						hdr          []string
					}{
						{"PUT", name, body, []int{201, 204}, nil},
						{"PROPFIND", "/dav/spaces/files/n/", nil, []int{207}, []string{"Depth: 1"}},
						{"GET", name, nil, []int{200}, nil},
					} {
						t0 := time.Now()
						st, err := do(op.method, op.path, "alice", alicePW, op.body, op.hdr...)
						el := time.Since(t0)
						mu.Lock()
						switch {
						case err != nil:
							errs = append(errs, fmt.Sprintf("%s %s: %v", op.method, op.path, err))
						case !slices.Contains(op.want, st):
							errs = append(errs, fmt.Sprintf("%s %s: %d", op.method, op.path, st))
						default:
							lat = append(lat, el)
						}
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		return lat, errs
	}

	work("warm", dur/5)
	quiet, qerrs := work("quiet", dur)

	// The noise: wrong passwords for mallory without a pause, and olga's
	// sockets with maximal filters, asking for more all the time.
	ctx, stop := context.WithCancel(t.Context())
	var noise sync.WaitGroup
	var guesses, refusedSockets, refusedSubs atomic.Int64
	for g := range 4 {
		noise.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := do("PROPFIND", "/dav/spaces/files/", "mallory", fmt.Sprintf("guess %d-%d", g, i), nil, "Depth: 0"); err == nil {
					guesses.Add(1)
				}
			}
		})
	}
	values := make([]string, 256)
	for i := range values {
		values[i] = fmt.Sprintf("n/%022d", i)
	}
	filter := map[string]any{"in": map[string]any{"field": "path", "values": values}}
	hdr := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("olga:olga password 1"))}}
	for range 2 {
		noise.Go(func() {
			var socks []*websocket.Conn
			defer func() {
				for _, c := range socks {
					c.CloseNow()
				}
			}()
			for n := 0; ctx.Err() == nil; n++ {
				c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
					&websocket.DialOptions{HTTPHeader: hdr})
				if err != nil {
					if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
						refusedSockets.Add(1)
					}
					// Keep the ones it has busy instead.
					for _, c := range socks {
						wsjson.Write(ctx, c, map[string]any{"action": "subscribe", "requestId": n, "filter": filter})
						var ans struct{ Status int }
						if wsjson.Read(ctx, c, &ans) == nil && ans.Status == http.StatusTooManyRequests {
							refusedSubs.Add(1)
						}
					}
					continue
				}
				c.SetReadLimit(1 << 20)
				socks = append(socks, c)
			}
		})
	}
	time.Sleep(dur / 10) // let the noise reach its limits
	noisy, nerrs := work("noisy", dur)
	stop()
	noise.Wait()

	slices.Sort(quiet)
	slices.Sort(noisy)
	q99, n99 := percentile(quiet, 0.99), percentile(noisy, 0.99)
	t.Logf("noisy neighbour: quiet %d requests p50 %v p99 %v; noisy %d requests p50 %v p99 %v (%.2f×); "+
		"%d wrong passwords, %d sockets and %d subscriptions refused",
		len(quiet), percentile(quiet, 0.5), q99, len(noisy), percentile(noisy, 0.5), n99, float64(n99)/float64(q99),
		guesses.Load(), refusedSockets.Load(), refusedSubs.Load())
	if len(qerrs)+len(nerrs) > 0 {
		t.Errorf("the other user's requests failed: %d in the quiet run, %d in the noisy one; first: %v",
			len(qerrs), len(nerrs), append(qerrs, nerrs...)[:min(5, len(qerrs)+len(nerrs))])
	}
	if guesses.Load() == 0 || refusedSockets.Load() == 0 {
		t.Errorf("the noise did not run: %d guesses, %d sockets refused", guesses.Load(), refusedSockets.Load())
	}
	if n99 > 2*q99 {
		t.Errorf("p99 with the noise %v, more than twice the quiet run's %v", n99, q99)
	}
}

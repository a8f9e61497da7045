package phraseanet

import (
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// TestRetryPushNow: a failing commit waits for its backoff; the retry
// endpoint makes it due at once, for editors only, and refuses commits
// with nothing to retry.
func TestRetryPushNow(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RetryBase, c.RetryMax = time.Hour, time.Hour })
	enq := newEnqueueServer(t, 1)
	tg := f.target(t, TargetSpec{Name: "dam", Mode: ModePush, URL: enq.URL + "/api/v1/upload/enqueue/", Key: "secret-key"})
	f.put(t, "a.jpg", "aaa")
	c, _ := f.commit(t, tg.ID, "a.jpg")
	f.svc.pushDue(f.ctx)
	if got := f.getCommit(t, c.ID); got.State != store.CommitFailing || enq.calls.Load() != 1 {
		t.Fatalf("after a 500: %+v, %d calls", got, enq.calls.Load())
	}
	retry := TargetsPath + "/" + tg.ID + "/commits/" + c.ID + "/retry"
	if st, body, _ := f.do(t, "POST", retry, basic("bob"), "", ""); st != 403 {
		t.Errorf("viewer retry = %d %s, want 403", st, body)
	}
	if st, body, _ := f.do(t, "POST", retry, basic("carol"), "", ""); st != 404 {
		t.Errorf("retry by a stranger to the space = %d %s, want 404", st, body)
	}
	if st, body, _ := f.do(t, "POST", TargetsPath+"/"+tg.ID+"/commits/nope/retry", basic("alice"), "", ""); st != 404 {
		t.Errorf("retry of an unknown commit = %d %s, want 404", st, body)
	}
	if st, body, _ := f.do(t, "POST", retry, basic("alice"), "", ""); st != 202 {
		t.Fatalf("retry = %d %s, want 202", st, body)
	}
	// Due now, an hour before its backoff would have let it.
	f.svc.pushDue(f.ctx)
	if got := f.getCommit(t, c.ID); got.State != store.CommitPushed || enq.calls.Load() != 2 {
		t.Errorf("after retry: %+v, %d calls; want pushed on the second call", got, enq.calls.Load())
	}
	if st, body, _ := f.do(t, "POST", retry, basic("alice"), "", ""); st != 409 {
		t.Errorf("retry of a pushed commit = %d %s, want 409", st, body)
	}
}

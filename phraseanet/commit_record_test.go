package phraseanet

import (
	"context"
	"errors"
	"testing"

	"github.com/wharfhq/wharf/store"
)

// TestCommitRecordIsAtomic: what a caller records about a commit is
// stored in the commit's own transaction, so a failure to record leaves
// no commit behind and the files free to commit again.
func TestCommitRecordIsAtomic(t *testing.T) {
	f := newFixture(t, nil)
	tg := f.target(t, TargetSpec{Name: "t", Mode: ModePull})
	f.put(t, "a.jpg", "a")

	boom := errors.New("boom")
	_, _, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: tg.ID, Paths: []string{"a.jpg"},
		Record: func(ctx context.Context, tx *store.Tx, c Commit) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("CreateCommit with a failing Record: %v, want boom", err)
	}
	if cs, _, _ := f.svc.Commits(f.ctx, tg.ID); len(cs) != 0 {
		t.Fatalf("a commit survived its failed record: %+v", cs)
	}

	var recorded string
	c, _, err := f.svc.CreateCommit(f.ctx, CommitRequest{TargetID: tg.ID, Paths: []string{"a.jpg"},
		Record: func(ctx context.Context, tx *store.Tx, c Commit) error { recorded = c.ID; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if recorded != c.ID {
		t.Errorf("Record saw commit %q, CreateCommit returned %q", recorded, c.ID)
	}
}

package postproc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// SpacePolicies reads each space's upload policy from the store, for
// Config.Policy. A policy that cannot be read or decoded is logged and refuses
// every file (a type nobody has): failing open would let
// through what the space's managers meant to keep out.
func SpacePolicies(db *store.DB, log *slog.Logger) func(spaceID string) Policy {
	return func(spaceID string) Policy {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		raw, err := db.SpacePolicy(ctx, spaceID)
		if err != nil {
			log.Error("cannot read the space's policy; refusing its uploads", "space", spaceID, "err", err)
			return refuseAll
		}
		var p Policy
		if raw == "" {
			return p
		}
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			log.Error("the space's policy is not valid JSON; refusing its uploads", "space", spaceID, "err", err)
			return refuseAll
		}
		return p
	}
}

var refuseAll = Policy{AllowTypes: []string{"wharf/policy-unreadable"}}

// admit says why the policy refuses a file named name of type mime and size
// bytes, or nil if it takes it: the one check of uploads (the policy step)
// and of moves and copies (PolicyGate).
func (p Policy) admit(name, mime string, size int64) error {
	if p.MaxSize > 0 && size > p.MaxSize {
		return fmt.Errorf("the file has %d bytes; this space takes files of at most %d bytes", size, p.MaxSize)
	}
	m := mediaType(mime)
	for _, d := range p.DenyTypes {
		if typeMatches(d, m) {
			return fmt.Errorf("files of type %s are not accepted in this space", m)
		}
	}
	if len(p.AllowTypes) > 0 {
		ok := false
		for _, a := range p.AllowTypes {
			ok = ok || typeMatches(a, m)
		}
		if !ok {
			return fmt.Errorf("files of type %s are not accepted in this space", m)
		}
	}
	lower := strings.ToLower(name)
	for _, pat := range p.DenyNames {
		match, err := path.Match(strings.ToLower(pat), lower)
		if err != nil {
			return fmt.Errorf("the space's policy has a bad name pattern %q", pat)
		}
		if match {
			return fmt.Errorf("file names like %q are not accepted in this space", name)
		}
	}
	return nil
}

// PolicyGate admits the files that moves and copies land in a space by the
// space's policy (space.Gate): the same checks of names, types and sizes
// as the policy step makes of uploads. Policies is how each space's policy
// is read (SpacePolicies).
type PolicyGate func(spaceID string) Policy

var _ space.Gate = PolicyGate(nil)

// Admit refuses with a *space.PolicyError naming the first file refused.
func (g PolicyGate) Admit(_ context.Context, spaceID string, files []space.Landing) error {
	p := g(spaceID)
	for _, f := range files {
		if err := p.admit(path.Base(f.Path), f.MIME, f.Size); err != nil {
			return &space.PolicyError{Reason: f.Path + ": " + err.Error()}
		}
	}
	return nil
}

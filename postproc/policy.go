package postproc

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

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

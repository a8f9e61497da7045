package space

import (
	"context"
	"fmt"

	"github.com/wharfhq/wharf/store"
)

// SearchQuery selects nodes by name (a substring, case and diacritics
// ignored), type, size, date and space; see store.SearchQuery.
type SearchQuery = store.SearchQuery

// Search returns the nodes matching q from the index (the caller has
// narrowed q.Spaces to what its user may read): at most q.Limit, sorted by
// space and path.
func (t *Tree) Search(ctx context.Context, q SearchQuery) ([]Node, error) {
	ns, err := t.db.Search(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("space: search: %w", err)
	}
	return ns, nil
}

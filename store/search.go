package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// SearchQuery selects nodes by name and attributes.
type SearchQuery struct {
	// Text is looked for in names, as a substring, ignoring case and
	// diacritics. "": any name.
	Text string
	// Spaces are the spaces to look in. Empty: nothing is found.
	Spaces []string
	// Type is "file", "dir", or a MIME type or its prefix ("image/",
	// "image/jpeg", "image"). "": any.
	Type string
	// MinSize and MaxSize bound a file's size in bytes; negative: no bound.
	MinSize, MaxSize int64
	// After and Before bound the modification time; zero: no bound.
	After, Before time.Time
	// Limit is the most nodes returned. 0: 100.
	Limit int
}

// Search returns the nodes matching q (never a space's root): the first
// q.Limit found (in the order of the index, oldest nodes first), sorted by
// space and path. A Text of three characters or more is answered by the
// node_names index; a shorter one by reading the names of the spaces.
func (r Reader) Search(ctx context.Context, q SearchQuery) ([]Node, error) {
	if len(q.Spaces) == 0 {
		return nil, nil
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	text := strings.TrimSpace(q.Text)
	var conds []string
	var args []any
	from := "nodes n"
	indexed := text != "" && utf8.RuneCountInString(text) >= r.d.nameSearchMin
	if indexed {
		var cond string
		var arg any
		from, cond, arg = r.d.nameSearch(text)
		conds = append(conds, cond)
		args = append(args, arg)
	}
	conds = append(conds, "n.space_id IN (?"+strings.Repeat(", ?", len(q.Spaces)-1)+")", "n.path <> ''")
	for _, s := range q.Spaces {
		args = append(args, s)
	}
	switch t := strings.ToLower(q.Type); {
	case t == "":
	case t == "file":
		conds = append(conds, "n.is_dir = 0")
	case t == "dir" || t == "folder":
		conds = append(conds, "n.is_dir = 1")
	case strings.Contains(t, "/"):
		conds = append(conds, "(n.mime = ? OR n.mime LIKE ? ESCAPE '\\')")
		args = append(args, t, likePrefix(strings.TrimSuffix(t, "/")+"/"))
	default:
		conds = append(conds, "n.mime LIKE ? ESCAPE '\\'")
		args = append(args, likePrefix(t+"/"))
	}
	if q.MinSize >= 0 || q.MaxSize >= 0 {
		conds = append(conds, "n.is_dir = 0")
	}
	if q.MinSize >= 0 {
		conds = append(conds, "n.size >= ?")
		args = append(args, q.MinSize)
	}
	if q.MaxSize >= 0 {
		conds = append(conds, "n.size <= ?")
		args = append(args, q.MaxSize)
	}
	if !q.After.IsZero() {
		conds = append(conds, "n.mtime >= ?")
		args = append(args, nanos(q.After))
	}
	if !q.Before.IsZero() {
		conds = append(conds, "n.mtime < ?")
		args = append(args, nanos(q.Before))
	}
	// No ORDER BY: sorting every match of a common word would cost more
	// than finding them; the first Limit in index order are sorted below.
	query := "SELECT " + r.d.searchCols + " FROM " + from + " WHERE " + strings.Join(conds, " AND ")
	if indexed || text == "" {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := r.q.queryOnce(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", describe(err))
	}
	defer rows.Close()
	want := Fold(text)
	sc := r.newNodeScanner()
	var out []Node
	for rows.Next() && len(out) < q.Limit {
		n, err := sc.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: search: %w", describe(err))
		}
		if !indexed && want != "" && !strings.Contains(Fold(n.Name), want) {
			continue
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search: %w", describe(err))
	}
	slices.SortFunc(out, func(a, b Node) int {
		return cmp.Or(cmp.Compare(a.SpaceID, b.SpaceID), cmp.Compare(a.Path, b.Path))
	})
	return out, nil
}

// likePrefix is a LIKE pattern matching the strings that start with s.
func likePrefix(s string) string {
	return likeEscape(s) + "%"
}

// likeEscape makes s match itself in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

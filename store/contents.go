package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Content is what is known of some bytes, by their SHA-256: whether the
// virus scanner found them clean, and the metadata the processing pipeline
// extracted from them. It applies to every node whose SHA256 is the same.
type Content struct {
	SHA256    string
	ScannedAt time.Time // zero: never found clean
	Meta      string    // a JSON object; "" when not extracted
}

// Scanned reports whether the scanner found the bytes clean.
func (c Content) Scanned() bool { return !c.ScannedAt.IsZero() }

// Content returns what is known of the bytes with this SHA-256; a zero
// Content (with SHA256 set) when nothing is.
func (r Reader) Content(ctx context.Context, sha256 string) (Content, error) {
	m, err := r.Contents(ctx, []string{sha256})
	if err != nil {
		return Content{}, err
	}
	if c, ok := m[sha256]; ok {
		return c, nil
	}
	return Content{SHA256: sha256}, nil
}

// Contents returns what is known of each of the given SHA-256s, by
// SHA-256; those nothing is known of have no entry. Empty strings are
// ignored.
func (r Reader) Contents(ctx context.Context, sha256s []string) (map[string]Content, error) {
	out := map[string]Content{}
	seen := map[string]bool{}
	var keys []any
	for _, s := range sha256s {
		if s != "" && !seen[s] {
			seen[s] = true
			keys = append(keys, s)
		}
	}
	// SQLite's default limit of host parameters is 32766: stay far below.
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		rows, err := r.q.QueryContext(ctx, "SELECT sha256, scanned_at, meta FROM contents WHERE sha256 IN (?"+
			strings.Repeat(",?", len(batch)-1)+")", batch...)
		if err != nil {
			return nil, fmt.Errorf("store: contents: %w", describe(err))
		}
		for rows.Next() {
			var c Content
			var at int64
			if err := rows.Scan(&c.SHA256, &at, &c.Meta); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: contents: %w", describe(err))
			}
			if at != 0 {
				c.ScannedAt = fromNanos(at)
			}
			out[c.SHA256] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: contents: %w", describe(err))
		}
	}
	return out, nil
}

// MarkScanned records that the scanner found the bytes with this SHA-256
// clean at the given time. Nothing is recorded of content no node holds
// (what is known of content goes with the last node holding it).
func (tx *Tx) MarkScanned(ctx context.Context, sha256 string, at time.Time) error {
	if sha256 == "" {
		return fmt.Errorf("store: mark scanned: no SHA-256")
	}
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO contents (sha256, scanned_at) SELECT ?1, ?2"+
		" WHERE EXISTS (SELECT 1 FROM nodes WHERE sha256 = ?1 AND sha256 <> '')"+
		" ON CONFLICT (sha256) DO UPDATE SET scanned_at = excluded.scanned_at", sha256, nanos(at))
	if err != nil {
		return fmt.Errorf("store: mark %s scanned: %w", sha256, describe(err))
	}
	return nil
}

// PutMeta records the metadata (a JSON object) extracted from the bytes
// with this SHA-256, replacing what was recorded; nothing for content no
// node holds.
func (tx *Tx) PutMeta(ctx context.Context, sha256, meta string) error {
	if sha256 == "" {
		return fmt.Errorf("store: put metadata: no SHA-256")
	}
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO contents (sha256, meta) SELECT ?1, ?2"+
		" WHERE EXISTS (SELECT 1 FROM nodes WHERE sha256 = ?1 AND sha256 <> '')"+
		" ON CONFLICT (sha256) DO UPDATE SET meta = excluded.meta", sha256, meta)
	if err != nil {
		return fmt.Errorf("store: put metadata of %s: %w", sha256, describe(err))
	}
	return nil
}

// FilesWithoutMeta returns up to limit files, one per content, whose type
// is one of mimes (compared without parameters) and whose content has no
// metadata recorded: what the pipeline has still to look at.
func (r Reader) FilesWithoutMeta(ctx context.Context, mimes []string, limit int) ([]Node, error) {
	if len(mimes) == 0 || limit <= 0 {
		return nil, nil
	}
	args := make([]any, 0, len(mimes)+1)
	var conds []string
	for _, m := range mimes {
		conds = append(conds, "mime = ? OR mime LIKE ?")
		args = append(args, m, m+";%")
	}
	args = append(args, limit)
	rows, err := r.q.QueryContext(ctx, "SELECT "+r.d.nodeCols+" FROM nodes WHERE id IN ("+
		"SELECT MIN(id) FROM nodes WHERE is_dir = 0 AND sha256 <> '' AND ("+strings.Join(conds, " OR ")+")"+
		" AND NOT EXISTS (SELECT 1 FROM contents c WHERE c.sha256 = nodes.sha256 AND c.meta <> '')"+
		" GROUP BY sha256 LIMIT ?)", args...)
	if err != nil {
		return nil, fmt.Errorf("store: files without metadata: %w", describe(err))
	}
	defer rows.Close()
	var out []Node
	s := r.newNodeScanner()
	for rows.Next() {
		n, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: files without metadata: %w", describe(err))
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: files without metadata: %w", describe(err))
	}
	return out, nil
}

package store

import (
	"context"
	"fmt"
)

// Prop is a dead property of a node, as PROPPATCH set it.
//
// XML is the property element's content. The store keeps it verbatim; the
// caller makes it self-contained before storing it (every element inside
// declares the namespaces it uses), so it means the same wherever it is
// written back.
type Prop struct {
	NS   string // namespace URI; "" for a property in no namespace
	Name string // local name
	Lang string // xml:lang in scope of the property element; "" if none
	XML  string
}

// PropChange is one instruction of a PROPPATCH: set Prop (Prop.XML, Lang),
// or, with Remove, remove the property named by Prop.NS and Prop.Name.
type PropChange struct {
	Prop
	Remove bool
}

const propCols = "p.node_id, p.ns, p.name, p.lang, p.xml"

func (r Reader) queryProps(ctx context.Context, what, query string, args ...any) (map[int64][]Prop, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	out := map[int64][]Prop{}
	var id intCol
	for rows.Next() {
		var p Prop
		if err := rows.Scan(&id, &p.NS, &p.Name, &p.Lang, &p.XML); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out[int64(id)] = append(out[int64(id)], p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Props returns the dead properties of a node ordered by namespace and
// name; none (and no error) for an unknown node.
func (r Reader) Props(ctx context.Context, nodeID int64) ([]Prop, error) {
	m, err := r.queryProps(ctx, fmt.Sprintf("props of node %d", nodeID),
		"SELECT "+propCols+" FROM props p WHERE p.node_id = ? ORDER BY p.ns, p.name", nodeID)
	return m[nodeID], err
}

// ListingProps returns the dead properties of a directory node and of each
// of its children, by node id, in one query: what a Depth 1 PROPFIND shows.
// Nodes without properties have no entry.
func (r Reader) ListingProps(ctx context.Context, dirID int64) (map[int64][]Prop, error) {
	return r.queryProps(ctx, fmt.Sprintf("props of node %d and its children", dirID),
		"SELECT "+propCols+" FROM props p WHERE p.node_id = ?"+
			" UNION ALL SELECT "+propCols+" FROM nodes n JOIN props p ON p.node_id = n.id WHERE n.parent_id = ?"+
			" ORDER BY 1, 2, 3", dirID, dirID)
}

// SubtreeProps returns the dead properties of the node at path in a space
// and of every node below it, by node id: for a Depth infinity PROPFIND.
func (r Reader) SubtreeProps(ctx context.Context, spaceID, path string) (map[int64][]Prop, error) {
	cond, args := below(spaceID, path)
	return r.queryProps(ctx, fmt.Sprintf("props below %s/%q", spaceID, path),
		"SELECT "+propCols+" FROM props p"+
			" WHERE p.node_id IN (SELECT id FROM nodes WHERE space_id = ? AND path = ? UNION ALL SELECT id FROM nodes WHERE "+cond+")"+
			" ORDER BY 1, 2, 3", append([]any{spaceID, path}, args...)...)
}

// PropUsage returns how many dead properties a node has and the total
// length of their values, for the caller's limits.
func (r Reader) PropUsage(ctx context.Context, nodeID int64) (count int, bytes int64, err error) {
	err = r.q.QueryRowContext(ctx,
		"SELECT COUNT(*), COALESCE(SUM(octet_length(xml) + octet_length(name) + octet_length(ns)), 0) FROM props WHERE node_id = ?",
		nodeID).Scan(&count, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("store: prop usage of node %d: %w", nodeID, describe(err))
	}
	return count, bytes, nil
}

// PatchProps applies changes to the dead properties of a node in order (a
// later change to the same name wins; removing an absent property is not an
// error). It returns an error wrapping ErrNotFound if the node does not
// exist. Run it in the transaction that must fail as a whole: PROPPATCH is
// all or nothing.
func (tx *Tx) PatchProps(ctx context.Context, nodeID int64, changes []PropChange) error {
	what := fmt.Sprintf("patch props of node %d", nodeID)
	var one int
	if err := tx.tx.QueryRowContext(ctx, "SELECT 1 FROM nodes WHERE id = ?", nodeID).Scan(&one); err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	for _, c := range changes {
		var err error
		if c.Remove {
			_, err = tx.tx.ExecContext(ctx, "DELETE FROM props WHERE node_id = ? AND ns = ? AND name = ?",
				nodeID, c.NS, c.Name)
		} else {
			_, err = tx.tx.ExecContext(ctx,
				`INSERT INTO props (node_id, ns, name, lang, xml) VALUES (?, ?, ?, ?, ?)
				 ON CONFLICT (node_id, ns, name) DO UPDATE SET lang = excluded.lang, xml = excluded.xml`,
				nodeID, c.NS, c.Name, c.Lang, c.XML)
		}
		if err != nil {
			return fmt.Errorf("store: %s: {%s}%s: %w", what, c.NS, c.Name, describe(err))
		}
	}
	return nil
}

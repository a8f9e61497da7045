package store

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// dialect is what differs between the two engines the store runs on,
// SQLite (the default) and PostgreSQL. Queries are written once, with "?"
// placeholders and SQL both engines accept; the few fragments that differ
// are fields here, chosen when the DB is opened, and Postgres queries have
// their placeholders renumbered ($1, $2…) once per query text.
type dialect struct {
	pg bool

	// nodeCols and searchCols select a node as nodeScanner reads it: the
	// text columns joined by sep into one string. SQLite joins them with
	// NUL; PostgreSQL's text cannot hold NUL, so it uses U+0001, which no
	// path, ETag, checksum or MIME type contains either (space.Clean
	// refuses control characters in names).
	nodeCols, searchCols string
	sep                  byte
	// greatest is the scalar maximum of several values: SQLite's
	// multi-argument max(), PostgreSQL's GREATEST.
	greatest string
	// instr is the 1-based position of a substring: instr / strpos.
	instr string
	// nameSearchMin is the shortest text nameSearch answers: SQLite's
	// trigram index needs three characters (shorter ones are filtered in
	// Go); PostgreSQL compares its folded names itself, index or not.
	nameSearchMin int

	// once are the leading arguments of a query run without a prepared
	// statement (see querier.queryOnce): PostgreSQL then plans it for its
	// arguments' values.
	once []any

	rebound  sync.Map     // query text -> the query with $n placeholders (pg only)
	nrebound atomic.Int64 // entries of rebound, bounded by reboundMax
}

// reboundMax bounds the rebound queries remembered; the few built at run
// time (IN lists of varying length) must not grow it without end.
const reboundMax = 4096

func newSQLiteDialect() *dialect {
	return &dialect{
		nodeCols: "id, COALESCE(parent_id, 0), is_dir, size, mtime, ctime, " +
			"space_id || char(0) || path || char(0) || etag || char(0) || sha256 || char(0) || sha1 || char(0) || mime || char(0) || blob",
		searchCols: "n.id, COALESCE(n.parent_id, 0), n.is_dir, n.size, n.mtime, n.ctime, " +
			"n.space_id || char(0) || n.path || char(0) || n.etag || char(0) || n.sha256 || char(0) || n.sha1 || char(0) || n.mime || char(0) || n.blob",
		sep:           0,
		greatest:      "max",
		instr:         "instr",
		nameSearchMin: 3,
	}
}

func newPostgresDialect() *dialect {
	return &dialect{
		pg: true,
		nodeCols: "id, COALESCE(parent_id, 0), is_dir, size, mtime, ctime, " +
			"space_id || chr(1) || path || chr(1) || etag || chr(1) || sha256 || chr(1) || sha1 || chr(1) || mime || chr(1) || blob",
		searchCols: "n.id, COALESCE(n.parent_id, 0), n.is_dir, n.size, n.mtime, n.ctime, " +
			"n.space_id || chr(1) || n.path || chr(1) || n.etag || chr(1) || n.sha256 || chr(1) || n.sha1 || chr(1) || n.mime || chr(1) || n.blob",
		sep:           1,
		greatest:      "GREATEST",
		instr:         "strpos",
		nameSearchMin: 1,
	}
}

// query returns q as the engine wants it: unchanged for SQLite, with its
// placeholders numbered for PostgreSQL (remembered per query text: the
// queries are a few hundred fixed strings).
func (d *dialect) query(q string) string {
	if !d.pg {
		return q
	}
	if s, ok := d.rebound.Load(q); ok {
		return s.(string)
	}
	s := rebind(q)
	if cacheable(q) && d.nrebound.Load() < reboundMax {
		if _, loaded := d.rebound.LoadOrStore(q, s); !loaded {
			d.nrebound.Add(1)
		}
	}
	return s
}

// args converts arguments the PostgreSQL driver would refuse for the
// schema's columns: booleans are INTEGER 0/1 in both schemas.
func (d *dialect) args(args []any) []any {
	if !d.pg {
		return args
	}
	copied := false
	for i, a := range args {
		if b, ok := a.(bool); ok {
			if !copied { // the caller's slice stays as it was
				args, copied = append([]any(nil), args...), true
			}
			if b {
				args[i] = int64(1)
			} else {
				args[i] = int64(0)
			}
		}
	}
	return args
}

// rebind replaces each "?" placeholder of q by $1, $2… in order, leaving
// string literals, quoted identifiers and comments alone.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '?':
			// ?NNN (SQLite's numbered parameter) is $NNN.
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
				i = j - 1
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsPostgres reports whether location names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns location fit for logs and errors: a URL's password is
// replaced by "xxxxx", and so is its password query parameter. A file
// path is returned unchanged.
func Redact(location string) string {
	if !strings.Contains(location, "://") {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		// Only the scheme: the rest may hold a password in a form the
		// parser did not recognise.
		return location[:strings.Index(location, "://")+3] + "(a URL that cannot be parsed)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// nameSearch returns the FROM clause (the nodes as n) and the condition
// of Search for a name holding text, of three characters or more: a MATCH
// of SQLite's FTS5 trigram index, a LIKE on PostgreSQL's trigram index of
// the folded names (see the search migrations).
func (d *dialect) nameSearch(text string) (from, cond string, arg any) {
	if d.pg {
		return "nodes n", `n.name <> '' AND n.name_fold LIKE ? ESCAPE '\'`,
			"%" + likeEscape(Fold(text)) + "%"
	}
	return "node_names f JOIN nodes n ON n.id = f.rowid", "node_names MATCH ?",
		`"` + strings.ReplaceAll(text, `"`, `""`) + `"`
}

// guarded says whether a statement of a write transaction runs under a
// savepoint of its own (txQuerier.guard): on PostgreSQL, the inserts and
// updates, the statements that break unique, foreign key and check
// constraints.
func (d *dialect) guarded(q string) bool {
	if !d.pg {
		return false
	}
	q = strings.TrimLeft(q, " \t\n")
	return len(q) > 6 && (strings.EqualFold(q[:6], "INSERT") || strings.EqualFold(q[:6], "UPDATE"))
}

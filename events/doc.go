// Package events is Wharf's in-process publish/subscribe and its filter
// language. Every change (an upload created, a processing step done,
// a node created, a commit pushed) is published on a Bus as an Event, and
// whoever cares subscribes with a filter. Publishing never blocks: a
// subscriber that falls behind loses events and is told so, it never slows
// the publisher down.
//
// events imports nothing of Wharf: postproc, tus, dav, web and phraseanet
// publish on it, and the websocket that exposes it to clients,
// GET /api/v1/events, is web's (web.Events).
//
// # Filters
//
// A filter is a JSON object whose members are clauses, all of which must
// hold ({} accepts every event):
//
//	{"equals": {"field": "space", "value": "files"}}
//	{"in":     {"field": "type", "values": ["node.created", "node.deleted"]}}
//	{"prefix": {"field": "path", "value": "photos/"}}
//	{"range":  {"field": "size", "gte": 1048576, "lt": 1073741824}}
//	{"range":  {"field": "time", "gte": "2026-06-01T00:00:00Z"}}
//	{"regexp": {"field": "path", "value": "\\.jpe?g$", "flags": "i"}}
//	{"exists": "mime"}
//	{"missing": "mime"}
//	{"and":    [{…}, {…}]}   every object holds
//	{"or":     [{…}, {…}]}   at least one object holds
//	{"not":    {…}}          the object does not hold
//	{"bool":   {"must": […], "must_not": […], "should": […], "should_not": […]}}
//
// Kuzzle's syntax (Koncorde's) is accepted too, and may be mixed with
// Wharf's: a term names its one field instead of a "field" member, as in
// {"equals": {"space": "files"}}, {"in": {"type": […]}},
// {"range": {"size": {"gte": 1}}}, {"regexp": {"path": {"value": "^a"}}},
// {"exists": {"field": "mime"}}. An operand object with a "field" member
// is Wharf's; no event field is called "field".
//
// A member named after a field is shorthand: {"space": "files"} is equals,
// {"type": ["node.created", "node.moved"]} is in, {"size": 0} is equals on
// the size.
//
// The fields are type, space, path, user, mime, upload (strings), size
// (an integer) and time (range, exists and missing only; bounds are
// RFC 3339 strings or milliseconds since 1970). Values of type may hold * wildcards, each standing for any
// run of characters: "node.*", "*.finished", "*". Paths are compared
// without a leading slash, as events carry them. prefix applies to string
// fields, range (gt, gte, lt, lte, at least one, all integers) to size only.
// exists holds when the field is set: a non-empty string, a non-zero size
// (time always is); missing when it is not. regexp is Go's RE2, compiled
// once; its flags are JavaScript's i, m and s (g and u change nothing).
//
// A filter is at most MaxFilterSize bytes of JSON, nested at most
// MaxFilterDepth objects deep, and holds at most MaxFilterClauses clauses,
// MaxFilterValues values in all its in lists together, strings of at
// most MaxFilterString bytes, and at most MaxFilterRegexps regular
// expressions of MaxFilterRegexp bytes compiling to MaxFilterRegexpInsts
// instructions in all: compiled, it holds at most a few tens of KiB
// (TestMaximalFilterSize measures the worst shapes). ParseFilter reports
// the first error with the path of the clause at fault, as in
//
//	and[2].range: unknown bound "gtt"
//
// Filters compile to closures. A filter whose top-level clauses pin the
// space (equals or in on space) or the exact type is indexed by the Bus, so
// that Publish does not even evaluate it for other spaces or types. A
// subscription's authorization check (SubscribeOptions.Allow) runs before
// its filter, and neither runs under the lock of the Bus's index.
//
// # Scope, replay and progress
//
// An Event may carry Before, the state of its item before the change (a
// move's old place): a subscription whose filter matched Before and does
// not match the event gets it marked Scope "out" (SubscribeOptions.Scope
// chooses in, out, both or none). Every event has an increasing Seq, and
// the Bus keeps a bounded log of the recent ones (Config) from which
// SubscribeSince replays what a subscriber missed, then goes on live with
// neither gap nor duplicate, or answers ErrSinceTooOld. Progress publishes
// upload.progress from the copy of an upload's bytes, rate-limited.
//
// # Several processes
//
// A Bus made with a Relay (Config.Relay; events/natsbus is the one on
// NATS JetStream) shares its events with the Buses of other processes:
// Publish hands the event to the Relay, which stores it in a shared ordered
// stream and delivers every process's events back to each Bus (Deliver),
// with the stream's seqs. Losses the Relay knows of (Lost, a jump in seqs,
// an event it could not store) reach the subscribers as overflows, and
// the sinces before them are too old: never a silent gap.
//
// docs/events.md is the user's guide to all this.
package events

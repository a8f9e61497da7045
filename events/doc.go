// Package events is Wharf's in-process publish/subscribe and the websocket
// that exposes it. Every change (an upload created, a processing step done,
// a node created, a commit pushed) is published on a Bus as an Event, and
// whoever cares subscribes with a filter. Publishing never blocks: a
// subscriber that falls behind loses events and is told so, it never slows
// the publisher down.
//
// events imports space and auth (for the websocket's get/list answers and
// its authorization) and nothing else of Wharf; postproc, tus and the
// server publish on it.
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
//	{"exists": "mime"}
//	{"and":    [{…}, {…}]}   every object holds
//	{"or":     [{…}, {…}]}   at least one object holds
//	{"not":    {…}}          the object does not hold
//
// A member named after a field is shorthand: {"space": "files"} is equals,
// {"type": ["node.created", "node.moved"]} is in, {"size": 0} is equals on
// the size.
//
// The fields are type, space, path, user, mime, upload (strings) and size
// (an integer). Values of type may hold * wildcards, each standing for any
// run of characters: "node.*", "*.finished", "*". Paths are compared
// without a leading slash, as events carry them. prefix applies to string
// fields, range (gt, gte, lt, lte, at least one, all integers) to size only.
// exists holds when the field is set: a non-empty string, a non-zero size.
//
// A filter is nested at most MaxFilterDepth objects deep, holds at most
// MaxFilterClauses clauses, MaxFilterValues values per in list and strings
// of at most MaxFilterString bytes. ParseFilter reports the first error
// with the path of the clause at fault, as in
//
//	and[2].range: unknown bound "gtt"
//
// Filters compile to closures. A filter whose top-level clauses pin the
// space (equals or in on space) or the exact type is indexed by the Bus, so
// that Publish does not even evaluate it for other spaces or types.
//
// # Websocket
//
// Handler serves GET /api/v1/events. Messages are JSON text. The client
// sends requests, each with a requestId that the answer echoes:
//
//	{"action":"subscribe","requestId":"r1","filter":{"space":"files","type":"node.*"}}
//	→ {"requestId":"r1","status":200,"result":{"channel":"c1"}}
//	{"action":"unsubscribe","requestId":"r2","channel":"c1"}
//	→ {"requestId":"r2","status":200,"result":{"channel":"c1"}}
//	{"action":"get","requestId":"r3","space":"files","path":"photos/a.jpg"}
//	→ {"requestId":"r3","status":200,"result":{"id":7,"space":"files","path":"photos/a.jpg",…}}
//	{"action":"list","requestId":"r4","space":"files","path":"photos"}
//	→ {"requestId":"r4","status":200,"result":[{…},{…}]}
//
// Errors come back as {"requestId":…,"status":400|404|429|500,"error":"…"}.
// The events of a subscription arrive as {"channel":"c1","event":{…}}, in
// publication order. A subscription whose queue overflows ends with
// {"type":"overflow","channel":"c1"}; the client may subscribe again.
//
// Whatever the filter, a socket only receives events of spaces its caller
// may read (within its token's space and path), and events without a space
// only if the caller is an unrestricted admin. The roles are read when the
// socket opens and again every HandlerConfig.RolesEvery, and checked both
// when an event is published and when it is sent: a revoked role stops the
// events within that period; a deleted user or expired token closes the
// socket. get and list check the role at each request.
//
// docs/events.md is the user's guide to all this.
package events

package space

import "github.com/wharfhq/wharf/events"

// NodeEvent is the event of a change at path p of a space made by user, as
// WebDAV and the web API publish it: with n, the node as it is now (nil
// for a deletion), its media type and size, and its id and kind in Data.
func NodeEvent(typ, spaceID, p, user string, n *Node, data map[string]any) events.Event {
	e := events.Event{Type: typ, Space: spaceID, Path: p, User: user, Data: data}
	if n != nil {
		e.MIME, e.Size = n.MIME, n.Size
		if e.Data == nil {
			e.Data = map[string]any{}
		}
		e.Data["id"], e.Data["dir"] = n.ID, n.IsDir
	}
	return e
}

// MoveEvent is the node.moved event of node n, moved within space spaceID
// from path from by user: NodeEvent's, with the old path in Data["from"]
// and the node as it was in Before, so that those who watch the place it
// left learn that it left (events.Event.Before).
func MoveEvent(spaceID, from, user string, n *Node) events.Event {
	e := NodeEvent(events.NodeMoved, spaceID, n.Path, user, n, map[string]any{"from": from})
	e.Before = &events.State{Space: spaceID, Path: from, MIME: n.MIME, Size: n.Size}
	return e
}

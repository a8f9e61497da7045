package events

import "time"

// How often upload.progress is published for one upload: when this many
// more bytes have arrived, or this long has passed, since the last one.
const (
	ProgressEvery  = 1 << 20
	ProgressPeriod = 500 * time.Millisecond
)

// progressMark is the last upload.progress published for an upload.
type progressMark struct {
	offset int64
	at     time.Time
}

// maxMarks is how many uploads' marks the Bus keeps before it forgets
// those not heard of for a while (uploads abandoned half way).
const maxMarks = 4096

// Progress publishes the upload.progress events of one request's body,
// as its bytes arrive: it is an io.Writer that counts what it is given (a
// hasher among the others of the copy, which sees the bytes once they are
// written). An event goes out when ProgressEvery more bytes have arrived,
// or ProgressPeriod has passed, since the last one of the same upload
// (the Bus remembers it across requests: a tus upload sent in small
// PATCHes is rate-limited as a whole), and with the last byte of an upload
// that had one. Each event is the template given to Bus.Progress, with
// the offset reached in Data["offset"].
//
// A nil *Progress (from a nil Bus) does nothing. Write and End are called
// by one goroutine at a time.
type Progress struct {
	b      *Bus
	e      Event // the template
	offset int64
}

// Progress returns the reporter of upload e.Upload, whose body goes on at
// byte offset; e is the template of its events (Space, Path, User, and
// Size: the upload's length, 0 if unknown). The caller calls End when the
// request's body has been received, or Forget if it failed.
func (b *Bus) Progress(e Event, offset int64) *Progress {
	if b == nil || e.Upload == "" {
		return nil
	}
	e.Type = UploadProgress
	return &Progress{b: b, e: e, offset: offset}
}

// Write counts p's bytes and publishes an event if one is due. It never
// fails.
func (p *Progress) Write(buf []byte) (int, error) {
	if p != nil && len(buf) > 0 {
		p.offset += int64(len(buf))
		p.b.progress(&p.e, p.offset, false)
	}
	return len(buf), nil
}

// End says that the request's body ended at offset (what was kept of
// it), and whether the upload now has all its bytes (complete): its event
// is published if one is due, or if the upload is complete and an event
// was published for it before. After a complete End the Bus forgets the
// upload.
func (p *Progress) End(offset int64, complete bool) {
	if p == nil {
		return
	}
	p.offset = offset
	if complete && p.e.Size == 0 {
		p.e.Size = offset
	}
	p.b.progress(&p.e, offset, complete)
}

// Forget drops what the Bus remembers of the upload (it failed).
func (p *Progress) Forget() {
	if p == nil {
		return
	}
	p.b.markMu.Lock()
	delete(p.b.marks, p.e.Upload)
	p.b.markMu.Unlock()
}

// progress publishes e at offset if it is due (see Progress); last says
// that it is the upload's last byte.
func (b *Bus) progress(e *Event, offset int64, last bool) {
	now := b.now()
	b.markMu.Lock()
	m, seen := b.marks[e.Upload]
	if !seen {
		m.at = now // the first is due a period after the start
		if b.marks == nil {
			b.marks = map[string]progressMark{}
		}
		b.marks[e.Upload] = m
	}
	due := offset != m.offset && (offset-m.offset >= ProgressEvery || now.Sub(m.at) >= ProgressPeriod ||
		last && m.offset > 0)
	switch {
	case last:
		delete(b.marks, e.Upload)
	case due:
		b.marks[e.Upload] = progressMark{offset: offset, at: now}
	}
	if due && len(b.marks) > maxMarks {
		for id, m := range b.marks {
			if now.Sub(m.at) > time.Hour {
				delete(b.marks, id)
			}
		}
	}
	b.markMu.Unlock()
	if due {
		ev := *e
		ev.Data = map[string]any{"offset": offset}
		b.Publish(ev)
	}
}

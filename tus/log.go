package tus

import (
	"context"
	"log/slog"

	expslog "golang.org/x/exp/slog"
)

// newExpLogger adapts Wharf's log/slog logger to the golang.org/x/exp/slog
// logger tusd takes. Only warnings and errors get through (tusd logs every
// request at INFO), and tusd's camelCase keys become Wharf's snake_case.
func newExpLogger(l *slog.Logger) *expslog.Logger {
	return expslog.New(expHandler{h: l.Handler()})
}

type expHandler struct{ h slog.Handler }

func (e expHandler) Enabled(ctx context.Context, level expslog.Level) bool {
	return level >= expslog.LevelWarn && e.h.Enabled(ctx, slog.Level(level))
}

func (e expHandler) Handle(ctx context.Context, r expslog.Record) error {
	out := slog.NewRecord(r.Time, slog.Level(r.Level), "tusd: "+r.Message, r.PC)
	r.Attrs(func(a expslog.Attr) bool {
		out.AddAttrs(convertAttr(a))
		return true
	})
	return e.h.Handle(ctx, out)
}

func (e expHandler) WithAttrs(as []expslog.Attr) expslog.Handler {
	conv := make([]slog.Attr, len(as))
	for i, a := range as {
		conv[i] = convertAttr(a)
	}
	return expHandler{h: e.h.WithAttrs(conv)}
}

func (e expHandler) WithGroup(name string) expslog.Handler {
	return expHandler{h: e.h.WithGroup(name)}
}

// tusdKeys renames tusd's attribute keys.
var tusdKeys = map[string]string{"id": "upload_id", "requestId": "request_id", "error": "err"}

func convertAttr(a expslog.Attr) slog.Attr {
	key := a.Key
	if k, ok := tusdKeys[key]; ok {
		key = k
	}
	v := a.Value.Resolve()
	if v.Kind() == expslog.KindGroup {
		g := v.Group()
		as := make([]any, len(g))
		for i, ga := range g {
			as[i] = convertAttr(ga)
		}
		return slog.Group(key, as...)
	}
	return slog.Any(key, v.Any())
}

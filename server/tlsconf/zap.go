package tlsconf

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZap gives certmagic, which logs through zap, a logger that writes to
// log's slog handler. Entries below min are dropped before they are built.
func newZap(log *slog.Logger, min slog.Leveler) *zap.Logger {
	return zap.New(&slogCore{h: log.Handler(), min: min})
}

// slogCore is a zapcore.Core that forwards each entry to a slog.Handler:
// the zap logger name becomes the "logger" attribute, zap fields become
// attributes.
type slogCore struct {
	h     slog.Handler
	min   slog.Leveler
	attrs []slog.Attr // from With, already encoded
}

var _ zapcore.Core = (*slogCore)(nil)

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default: // error, dpanic, panic, fatal: zap itself panics or exits after Write
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	lv := slogLevel(l)
	return lv >= c.min.Level() && c.h.Enabled(context.Background(), lv)
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, min: c.min, attrs: append(slices.Clip(c.attrs), encode(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(encode(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// encode turns zap fields into slog attributes, in field order. zap's
// "error" key becomes "err", Wharf's key for errors.
func encode(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	out := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		keys := make([]string, 0, len(enc.Fields))
		for k := range enc.Fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := k
			if name == "error" {
				name = "err"
			}
			if strings.HasSuffix(k, "Verbose") { // errorVerbose repeats the error with its stack
				continue
			}
			out = append(out, slog.Any(name, enc.Fields[k]))
		}
	}
	return out
}

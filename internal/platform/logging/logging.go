// Package logging builds the JSON slog logger every service uses. Each line
// carries the service name and, when the context holds a span, its trace_id
// and span_id, so logs and traces can be joined. A line has one value per
// key: a key given again (a service's own "service" over the process's)
// replaces the earlier value, since log stores such as Elasticsearch refuse
// a document with a repeated key. Durations are written in seconds.
package logging

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// New returns a JSON logger writing to w at the given level, tagging every
// line with service.
func New(w io.Writer, service string, level slog.Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: seconds})
	return slog.New(&handler{inner: h}).With(slog.String("service", service))
}

// ParseLevel turns "debug", "info", "warn" or "error" into a level; anything
// else is info.
func ParseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// seconds writes a duration as seconds, the unit log queries and Prometheus
// share, rather than slog's nanoseconds.
func seconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}

// handler keeps the logger's attributes itself, so that it can write each
// key once, and adds the span context of the record's context.
type handler struct {
	inner slog.Handler
	attrs []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs()+2)
	attrs = appendUnique(attrs, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = appendUnique(attrs, a)
		return true
	})
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = appendUnique(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	out.AddAttrs(attrs...)
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{inner: h.inner, attrs: appendUnique(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// WithGroup hands the attributes so far to the JSON handler: keys inside a
// group cannot clash with those outside it.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(h.attrs).WithGroup(name)}
}

// appendUnique appends attrs to dst, each replacing an earlier attribute
// of the same key.
func appendUnique(dst []slog.Attr, attrs ...slog.Attr) []slog.Attr {
next:
	for _, a := range attrs {
		for i := range dst {
			if dst[i].Key == a.Key {
				dst[i] = a
				continue next
			}
		}
		dst = append(dst, a)
	}
	return dst
}

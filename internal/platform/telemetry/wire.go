package telemetry

import (
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// encoder writes an OTLP ExportTraceServiceRequest
// (opentelemetry/proto/collector/trace/v1) straight from the SDK's spans
// into one reused buffer. The SDK's OTLP exporter first builds every span
// again as a tree of generated messages (about twenty allocations a span)
// and then marshals that tree; at the mesh's rate of spans that was most
// of telemetry's cost after the spans themselves (docs/performance.md).
// The output is the same message: TestWireMatchesTheSDKExporter decodes
// both and compares them.
//
// An encoder is not safe for concurrent use.
type encoder struct {
	b      []byte
	groups []spanGroup
}

// spanGroup is the spans of one resource and instrumentation scope, as
// one ScopeSpans.
type spanGroup struct {
	res   attribute.Distinct
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

// Field numbers of the OTLP messages written here.
const (
	reqResourceSpans protowire.Number = 1 // ExportTraceServiceRequest

	rsResource   protowire.Number = 1 // ResourceSpans
	rsScopeSpans protowire.Number = 2
	rsSchemaURL  protowire.Number = 3

	resAttributes protowire.Number = 1 // Resource

	ssScope     protowire.Number = 1 // ScopeSpans
	ssSpans     protowire.Number = 2
	ssSchemaURL protowire.Number = 3

	scopeName       protowire.Number = 1 // InstrumentationScope
	scopeVersion    protowire.Number = 2
	scopeAttributes protowire.Number = 3

	spanTraceID           protowire.Number = 1 // Span
	spanSpanID            protowire.Number = 2
	spanTraceState        protowire.Number = 3
	spanParentSpanID      protowire.Number = 4
	spanName              protowire.Number = 5
	spanKind              protowire.Number = 6
	spanStart             protowire.Number = 7
	spanEnd               protowire.Number = 8
	spanAttributes        protowire.Number = 9
	spanDroppedAttributes protowire.Number = 10
	spanEvents            protowire.Number = 11
	spanDroppedEvents     protowire.Number = 12
	spanLinks             protowire.Number = 13
	spanDroppedLinks      protowire.Number = 14
	spanStatus            protowire.Number = 15
	spanFlagsField        protowire.Number = 16

	eventTime              protowire.Number = 1 // Span.Event
	eventName              protowire.Number = 2
	eventAttributes        protowire.Number = 3
	eventDroppedAttributes protowire.Number = 4

	linkTraceID           protowire.Number = 1 // Span.Link
	linkSpanID            protowire.Number = 2
	linkTraceState        protowire.Number = 3
	linkAttributes        protowire.Number = 4
	linkDroppedAttributes protowire.Number = 5
	linkFlags             protowire.Number = 6

	statusMessage protowire.Number = 2 // Status
	statusCode    protowire.Number = 3

	kvKey   protowire.Number = 1 // KeyValue
	kvValue protowire.Number = 2

	anyString protowire.Number = 1 // AnyValue
	anyBool   protowire.Number = 2
	anyInt    protowire.Number = 3
	anyDouble protowire.Number = 4
	anyArray  protowire.Number = 5
	anyKVList protowire.Number = 6
	anyBytes  protowire.Number = 7

	listValues protowire.Number = 1 // ArrayValue and KeyValueList

	// SpanFlags: the low byte is the W3C trace flags.
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// request returns spans encoded as one export request, grouped by
// resource and then scope in the order they first appear. The result is
// valid until the next call.
func (e *encoder) request(spans []sdktrace.ReadOnlySpan) []byte {
	e.b = e.b[:0]
	e.group(spans)
	for i, g := range e.groups {
		if i > 0 && e.groups[i-1].res == g.res {
			continue // written with the resource's first group
		}
		res := g.spans[0].Resource()
		rs := e.open(reqResourceSpans)
		r := e.open(rsResource)
		for it := res.Iter(); it.Next(); {
			e.keyValue(resAttributes, it.Attribute())
		}
		e.close(r)
		for _, same := range e.groups[i:] {
			if same.res != g.res {
				break
			}
			e.scopeSpans(same)
		}
		e.string(rsSchemaURL, res.SchemaURL())
		e.close(rs)
	}
	for i := range e.groups {
		clear(e.groups[i].spans)
	}
	return e.b
}

// group sorts spans into e.groups, a resource's groups next to each other.
func (e *encoder) group(spans []sdktrace.ReadOnlySpan) {
	e.groups = e.groups[:0]
	for _, s := range spans {
		if s == nil {
			continue
		}
		res, scope := s.Resource().Equivalent(), s.InstrumentationScope()
		i := slices.IndexFunc(e.groups, func(g spanGroup) bool { return g.res == res && g.scope == scope })
		if i < 0 {
			// After the resource's last group, or at the end.
			i = len(e.groups)
			for j := len(e.groups) - 1; j >= 0; j-- {
				if e.groups[j].res == res {
					i = j + 1
					break
				}
			}
			e.groups = slices.Insert(e.groups, i, spanGroup{res: res, scope: scope, spans: e.spareSpans()})
		}
		e.groups[i].spans = append(e.groups[i].spans, s)
	}
}

// spareSpans returns an empty slice, reusing the backing array of a group
// from an earlier request where there is one.
func (e *encoder) spareSpans() []sdktrace.ReadOnlySpan {
	if n := len(e.groups); n < cap(e.groups) {
		return e.groups[:n+1][n].spans[:0]
	}
	return nil
}

func (e *encoder) scopeSpans(g spanGroup) {
	ss := e.open(rsScopeSpans)
	if g.scope != (instrumentation.Scope{}) {
		sc := e.open(ssScope)
		e.string(scopeName, g.scope.Name)
		e.string(scopeVersion, g.scope.Version)
		for it := g.scope.Attributes.Iter(); it.Next(); {
			e.keyValue(scopeAttributes, it.Attribute())
		}
		e.close(sc)
	}
	for _, s := range g.spans {
		e.span(s)
	}
	e.string(ssSchemaURL, g.scope.SchemaURL)
	e.close(ss)
}

func (e *encoder) span(s sdktrace.ReadOnlySpan) {
	m := e.open(ssSpans)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	e.bytes(spanTraceID, tid[:])
	e.bytes(spanSpanID, sid[:])
	if ts := sc.TraceState(); ts.Len() > 0 {
		e.string(spanTraceState, ts.String())
	}
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		e.bytes(spanParentSpanID, psid[:])
	}
	e.string(spanName, s.Name())
	e.uvarint(spanKind, uint64(otlpKind(s.SpanKind())))
	e.fixed64(spanStart, unixNano(s.StartTime()))
	e.fixed64(spanEnd, unixNano(s.EndTime()))
	for _, kv := range s.Attributes() {
		e.keyValue(spanAttributes, kv)
	}
	e.uvarint(spanDroppedAttributes, count(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		em := e.open(spanEvents)
		e.fixed64(eventTime, unixNano(ev.Time))
		e.string(eventName, ev.Name)
		for _, kv := range ev.Attributes {
			e.keyValue(eventAttributes, kv)
		}
		e.uvarint(eventDroppedAttributes, count(ev.DroppedAttributeCount))
		e.close(em)
	}
	e.uvarint(spanDroppedEvents, count(s.DroppedEvents()))
	for _, l := range s.Links() {
		lm := e.open(spanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		e.bytes(linkTraceID, ltid[:])
		e.bytes(linkSpanID, lsid[:])
		if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
			e.string(linkTraceState, ts.String())
		}
		for _, kv := range l.Attributes {
			e.keyValue(linkAttributes, kv)
		}
		e.uvarint(linkDroppedAttributes, count(l.DroppedAttributeCount))
		e.fixed32(linkFlags, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		e.close(lm)
	}
	e.uvarint(spanDroppedLinks, count(s.DroppedLinks()))
	st := s.Status()
	sm := e.open(spanStatus)
	e.string(statusMessage, st.Description)
	e.uvarint(statusCode, otlpStatus(st.Code))
	e.close(sm)
	e.fixed32(spanFlagsField, spanFlags(sc.TraceFlags(), parent))
	e.close(m)
}

// keyValue writes kv as a KeyValue in field f.
func (e *encoder) keyValue(f protowire.Number, kv attribute.KeyValue) {
	m := e.open(f)
	e.string(kvKey, string(kv.Key))
	v := e.open(kvValue)
	e.value(kv.Value)
	e.close(v)
	e.close(m)
}

// value writes the fields of an AnyValue. A oneof member is written even
// when it is its type's zero value: that is how the receiver knows which
// one it is.
func (e *encoder) value(v attribute.Value) {
	switch v.Type() {
	case attribute.BOOL:
		e.b = protowire.AppendTag(e.b, anyBool, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		// An int64 is written as its two's complement, as protobuf does.
		e.b = protowire.AppendTag(e.b, anyInt, protowire.VarintType)
		e.b = protowire.AppendVarint(e.b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		e.b = protowire.AppendTag(e.b, anyDouble, protowire.Fixed64Type)
		e.b = protowire.AppendFixed64(e.b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		e.b = protowire.AppendTag(e.b, anyString, protowire.BytesType)
		e.b = protowire.AppendString(e.b, v.AsString())
	case attribute.BYTESLICE:
		e.b = protowire.AppendTag(e.b, anyBytes, protowire.BytesType)
		e.b = protowire.AppendBytes(e.b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		array(e, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		array(e, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		array(e, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		array(e, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		array(e, v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		l := e.open(anyKVList)
		for _, kv := range v.AsMap() {
			e.keyValue(listValues, kv)
		}
		e.close(l)
	case attribute.EMPTY:
	default:
		e.b = protowire.AppendTag(e.b, anyString, protowire.BytesType)
		e.b = protowire.AppendString(e.b, "INVALID")
	}
}

// array writes vs as an AnyValue's ArrayValue.
func array[T any](e *encoder, vs []T, value func(T) attribute.Value) {
	a := e.open(anyArray)
	for _, x := range vs {
		m := e.open(listValues)
		e.value(value(x))
		e.close(m)
	}
	e.close(a)
}

// open starts a length-delimited field f and returns where its content
// starts, for close.
func (e *encoder) open(f protowire.Number) int {
	e.b = protowire.AppendTag(e.b, f, protowire.BytesType)
	return len(e.b)
}

// close ends the field whose content starts at start: it moves the
// content up to make room for its length, and writes the length. Sizes
// are not known before the content is written; moving it costs a copy
// per nesting level, far less than building the messages first.
func (e *encoder) close(start int) {
	n := len(e.b) - start
	l := protowire.SizeVarint(uint64(n))
	e.b = slices.Grow(e.b, l)[:len(e.b)+l]
	copy(e.b[start+l:], e.b[start:start+n])
	protowire.AppendVarint(e.b[:start], uint64(n))
}

func (e *encoder) string(f protowire.Number, s string) {
	if s == "" {
		return
	}
	e.b = protowire.AppendTag(e.b, f, protowire.BytesType)
	e.b = protowire.AppendString(e.b, s)
}

func (e *encoder) bytes(f protowire.Number, b []byte) {
	e.b = protowire.AppendTag(e.b, f, protowire.BytesType)
	e.b = protowire.AppendBytes(e.b, b)
}

func (e *encoder) uvarint(f protowire.Number, v uint64) {
	if v == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, f, protowire.VarintType)
	e.b = protowire.AppendVarint(e.b, v)
}

func (e *encoder) fixed64(f protowire.Number, v uint64) {
	if v == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, f, protowire.Fixed64Type)
	e.b = protowire.AppendFixed64(e.b, v)
}

func (e *encoder) fixed32(f protowire.Number, v uint32) {
	if v == 0 {
		return
	}
	e.b = protowire.AppendTag(e.b, f, protowire.Fixed32Type)
	e.b = protowire.AppendFixed32(e.b, v)
}

// spanFlags are OTLP's flags of a span or link: the W3C trace flags, and
// whether its parent (or the linked span) is remote.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagHasIsRemote
	if parent.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

// otlpKind is OTLP's Span.SpanKind for k; the numbers agree, and anything
// unknown is unspecified (0).
func otlpKind(k trace.SpanKind) trace.SpanKind {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return trace.SpanKindUnspecified
	}
	return k
}

// otlpStatus is OTLP's Status.StatusCode for c: unset 0, ok 1, error 2
// (the SDK numbers ok and error the other way round).
func otlpStatus(c codes.Code) uint64 {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	default:
		return 0
	}
}

func unixNano(t time.Time) uint64 {
	return uint64(max(0, t.UnixNano()))
}

func count(n int) uint64 {
	return uint64(min(max(n, 0), math.MaxUint32))
}

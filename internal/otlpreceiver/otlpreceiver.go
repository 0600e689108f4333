// Package otlpreceiver is a small in-process OTLP/HTTP trace receiver: the
// other end of the real exporter, for tests that check what a mesh exports
// and for benchmarks that measure exporting's cost. It speaks the protocol
// an OpenTelemetry Collector or Jaeger speaks on /v1/traces (Protobuf,
// optionally gzip-compressed).
package otlpreceiver

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	collectorv1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, flattened for assertions.
type Span struct {
	TraceID, SpanID, ParentID string
	Name                      string
	Kind                      tracev1.Span_SpanKind
	// Service is the service.name of the span's resource.
	Service string
	// Attributes holds each attribute's value as text.
	Attributes map[string]string
	Error      bool // status code Error
	Events     []string
	Links      []Link
}

// Link is a span's link to another span.
type Link struct {
	TraceID, SpanID string
	Attributes      map[string]string
}

// Receiver accepts OTLP/HTTP trace exports.
type Receiver struct {
	// URL is the endpoint to set as OTEL_EXPORTER_OTLP_ENDPOINT.
	URL string

	keep     bool
	srv      *http.Server
	mu       sync.Mutex
	spans    []Span
	count    atomic.Int64
	requests atomic.Int64
	bytes    atomic.Int64
	failed   atomic.Int64
	delay    atomic.Int64 // nanoseconds each export is held
}

// SetDelay holds every export request this long before answering it, as
// a collector that cannot keep up does; 0 answers at once.
func (r *Receiver) SetDelay(d time.Duration) { r.delay.Store(int64(d)) }

// Start listens on a loopback port. With keep, every span is decoded and
// kept for Spans; without, requests and bytes are only counted.
func Start(ctx context.Context, keep bool) (*Receiver, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String(), keep: keep}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.export)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops the receiver.
func (r *Receiver) Close() error { return r.srv.Close() }

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Stats returns how many export requests and bytes arrived, how many spans
// (counted only when kept), and how many requests were refused.
func (r *Receiver) Stats() (requests, spans, bytes, failed int64) {
	return r.requests.Load(), r.count.Load(), r.bytes.Load(), r.failed.Load()
}

func (r *Receiver) export(w http.ResponseWriter, req *http.Request) {
	if d := time.Duration(r.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-req.Context().Done():
			return
		}
	}
	body, err := readBody(req)
	if err != nil {
		r.failed.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.bytes.Add(int64(len(body)))
	r.requests.Add(1)
	if !r.keep {
		// Counting only: decoding would bill a collector's work to the
		// process measured.
		writeEmptyResponse(w)
		return
	}
	var msg collectorv1.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		r.failed.Add(1)
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		service := attributes(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			r.count.Add(int64(len(ss.GetSpans())))
			for _, s := range ss.GetSpans() {
				got = append(got, flatten(service, s))
			}
		}
	}
	if len(got) > 0 {
		r.mu.Lock()
		r.spans = append(r.spans, got...)
		r.mu.Unlock()
	}
	writeEmptyResponse(w)
}

// writeEmptyResponse answers an export with success: an empty
// ExportTraceServiceResponse.
func writeEmptyResponse(w http.ResponseWriter) {
	out, _ := proto.Marshal(&collectorv1.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func readBody(req *http.Request) ([]byte, error) {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		return nil, fmt.Errorf("content type %q: only application/x-protobuf is accepted", ct)
	}
	var body io.Reader = req.Body
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, err
		}
		defer func() { _ = zr.Close() }()
		body = zr
	default:
		return nil, errors.New("unsupported content encoding")
	}
	return io.ReadAll(io.LimitReader(body, 64<<20))
}

func flatten(service string, s *tracev1.Span) Span {
	out := Span{
		TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind(), Service: service,
		Attributes: attributes(s.GetAttributes()), Error: s.GetStatus().GetCode() == tracev1.Status_STATUS_CODE_ERROR,
	}
	for _, e := range s.GetEvents() {
		out.Events = append(out.Events, e.GetName())
	}
	for _, l := range s.GetLinks() {
		out.Links = append(out.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId()), Attributes: attributes(l.GetAttributes())})
	}
	return out
}

func attributes(kvs []*commonv1.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonv1.AnyValue_StringValue:
			out[kv.GetKey()] = x.StringValue
		case *commonv1.AnyValue_IntValue:
			out[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonv1.AnyValue_BoolValue:
			out[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		case *commonv1.AnyValue_DoubleValue:
			out[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}

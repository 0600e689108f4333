package telemetry

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that keeps what it receives and
// answers with the statuses it is given, in turn, then 200.
type collector struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	answers []func(http.ResponseWriter)
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.headers = append(c.headers, r.Header.Clone())
	var answer func(http.ResponseWriter)
	if len(c.answers) > 0 {
		answer, c.answers = c.answers[0], c.answers[1:]
	}
	c.mu.Unlock()
	if answer != nil {
		answer(w)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func (c *collector) requests(t *testing.T) []*coltracepb.ExportTraceServiceRequest {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*coltracepb.ExportTraceServiceRequest
	for _, b := range c.bodies {
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			t.Fatalf("the body is not an ExportTraceServiceRequest: %v", err)
		}
		out = append(out, req)
	}
	return out
}

func newCollector(t testing.TB) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// everySpanShape is spans of two resources and three scopes (one of them
// empty), with every kind, attribute type, parent, event, link and status
// the SDK can hand an exporter.
func everySpanShape() []sdktrace.ReadOnlySpan {
	tid := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	other := trace.TraceID{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	ts, _ := trace.ParseTraceState("vendor=value,other=x")
	sc := func(t trace.TraceID, s byte, remote bool) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: t, SpanID: trace.SpanID{s, 0, 0, 0, 0, 0, 0, 1}, TraceFlags: trace.FlagsSampled, Remote: remote})
	}
	withState := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled, TraceState: ts})
	order := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "ordermesh-order"), attribute.Int("replica", 2))
	payment := resource.NewSchemaless(attribute.String("service.name", "ordermesh-payment"))
	scope := instrumentation.Scope{Name: "connectrpc.com/otelconnect", Version: "0.12.0", SchemaURL: "https://opentelemetry.io/schemas/1.37.0", Attributes: attribute.NewSet(attribute.Bool("instrumented", true))}
	start := time.Date(2026, 12, 6, 18, 0, 0, 123456789, time.UTC)
	every := []attribute.KeyValue{
		attribute.String("s", "text"), attribute.String("empty", ""), attribute.Bool("no", false), attribute.Bool("yes", true),
		attribute.Int64("zero", 0), attribute.Int64("negative", -42), attribute.Float64("pi", 3.14159), attribute.Float64("nought", 0),
		attribute.BoolSlice("bools", []bool{true, false}), attribute.Int64Slice("ints", []int64{1, -2, 0}),
		attribute.Float64Slice("floats", []float64{0.5, -1}), attribute.StringSlice("strings", []string{"a", ""}),
		attribute.ByteSlice("bytes", []byte{0, 1, 255}),
		attribute.Slice("mixed", attribute.IntValue(1), attribute.StringValue("two"), attribute.SliceValue(attribute.BoolValue(true))),
		attribute.Map("map", attribute.String("k", "v"), attribute.Map("inner", attribute.Int("n", 1))),
		{Key: "unset"},
	}
	stubs := tracetest.SpanStubs{
		{
			Name: "PlaceOrder", SpanContext: sc(tid, 1, false), Parent: sc(tid, 7, true), SpanKind: trace.SpanKindServer,
			StartTime: start, EndTime: start.Add(3 * time.Millisecond), Attributes: every, DroppedAttributes: 3,
			Events: []sdktrace.Event{
				{Name: "message", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("id", 1)}, DroppedAttributeCount: 1},
				{Name: "bare", Time: start.Add(2 * time.Millisecond)},
			},
			DroppedEvents: 2,
			Links: []sdktrace.Link{
				{SpanContext: sc(other, 3, true), Attributes: []attribute.KeyValue{attribute.String("ordermesh.order_id", "o-1")}, DroppedAttributeCount: 4},
				{SpanContext: sc(other, 4, false)},
			},
			DroppedLinks: 1,
			Status:       sdktrace.Status{Code: codes.Error, Description: "the catalog is unavailable"},
			Resource:     order, InstrumentationScope: scope,
		},
		{Name: "LockOrders", SpanContext: withState, Parent: sc(tid, 1, false), SpanKind: trace.SpanKindClient, StartTime: start, EndTime: start.Add(time.Millisecond), Status: sdktrace.Status{Code: codes.Ok}, Resource: order},
		{Name: "payment.authorize", SpanContext: sc(tid, 5, false), SpanKind: trace.SpanKindInternal, StartTime: start, EndTime: start, Resource: payment, InstrumentationScope: scope},
		{Name: "produce", SpanContext: sc(other, 6, false), SpanKind: trace.SpanKindProducer, StartTime: start, EndTime: start, Resource: order, InstrumentationScope: scope},
		{Name: "consume", SpanContext: sc(other, 8, false), SpanKind: trace.SpanKindConsumer, Resource: payment},
		{Name: "unspecified", SpanContext: sc(other, 10, false), Resource: order},
	}
	return stubs.Snapshots()
}

// sorted puts a request's resources in the order of their attributes:
// the SDK's exporter takes them from a map, in no particular order.
func sorted(req *coltracepb.ExportTraceServiceRequest) *coltracepb.ExportTraceServiceRequest {
	key := func(rs *tracepb.ResourceSpans) string { return prototext.Format(rs.GetResource()) }
	slices.SortFunc(req.ResourceSpans, func(a, b *tracepb.ResourceSpans) int { return strings.Compare(key(a), key(b)) })
	return req
}

// The mesh's encoder writes the very message the SDK's OTLP exporter
// writes, for every shape of span, except the trace state of links,
// which the SDK's exporter leaves out and OTLP has a field for.
func TestWireMatchesTheSDKExporter(t *testing.T) {
	ctx := context.Background()
	spans := everySpanShape()

	c, url := newCollector(t)
	sdk, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	mine, err := newOTLPHTTP(func(name string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url}[name]
	})
	if err != nil || mine == nil {
		t.Fatalf("newOTLPHTTP = %v, %v", mine, err)
	}
	// Twice: the second request reuses the first one's buffers.
	for range 2 {
		if err := mine.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	reqs := c.requests(t)
	if len(reqs) != 3 {
		t.Fatalf("the collector got %d requests, want 3", len(reqs))
	}
	want := sorted(reqs[0])
	for i, got := range reqs[1:] {
		if !proto.Equal(sorted(got), want) {
			t.Errorf("request %d differs from the SDK exporter's.\ngot:\n%s\nwant:\n%s", i+1, prototext.Format(got), prototext.Format(want))
		}
	}
	if n := len(want.GetResourceSpans()); n != 2 {
		t.Errorf("%d resources, want 2", n)
	}

	// The link's trace state.
	stated := tracetest.SpanStubs{{
		Name: "consume", SpanContext: spans[0].SpanContext(), Resource: spans[0].Resource(),
		Links: []sdktrace.Link{{SpanContext: spans[1].SpanContext()}},
	}}.Snapshots()
	if err := mine.ExportSpans(ctx, stated); err != nil {
		t.Fatal(err)
	}
	reqs = c.requests(t)
	link := reqs[len(reqs)-1].GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetLinks()[0]
	if link.GetTraceState() != "vendor=value,other=x" {
		t.Errorf("link trace state %q, want vendor=value,other=x", link.GetTraceState())
	}
}

// The OTEL_* variables choose this exporter, or leave the choice to the
// SDK's, as the SDK reads them.
func TestOTLPHTTPFromTheEnvironment(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		url     string // "" when the SDK's exporter is to be used
		headers map[string]string
		gzip    bool
		timeout time.Duration
		err     string
	}{
		{name: "defaults", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, url: "http://localhost:4318/v1/traces", timeout: 10 * time.Second},
		{name: "base endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4318/"}, url: "http://tempo:4318/v1/traces", timeout: 10 * time.Second},
		{
			name: "traces endpoint as it is",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector/otlp/traces"},
			url:  "https://collector/otlp/traces", timeout: 10 * time.Second,
		},
		{
			name: "headers, compression, timeout",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":       "http://tempo:4318",
				"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization=Bearer%20abc+def==, X-Scope-OrgID=shop",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-scope-orgid=traces",
				"OTEL_EXPORTER_OTLP_COMPRESSION":    "gzip",
				"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2500",
			},
			url:     "http://tempo:4318/v1/traces",
			headers: map[string]string{"Authorization": "Bearer abc+def==", "X-Scope-Orgid": "traces"},
			gzip:    true, timeout: 2500 * time.Millisecond,
		},
		{name: "grpc is the SDK's", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "json is the SDK's", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}},
		{name: "console is the SDK's", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}},
		{name: "TLS files are the SDK's", env: map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem"}},
		{name: "bad endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "tempo:4318"}, err: `OTLP endpoint "tempo:4318/v1/traces" is not an http or https URL`},
		{name: "bad header", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "token"}, err: `OTEL_EXPORTER_OTLP_HEADERS: "token" is not key=value`},
		{name: "bad compression", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, err: `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="zstd": want gzip or none`},
		{name: "bad timeout", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, err: `OTEL_EXPORTER_OTLP_TIMEOUT="10s": want a number of milliseconds`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := newOTLPHTTP(func(name string) string { return tc.env[name] })
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %s", err, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.url == "":
				if x != nil {
					t.Fatalf("got this exporter for %s, want the SDK's", x.url)
				}
				return
			case x == nil:
				t.Fatal("got the SDK's exporter, want this one")
			}
			if x.url != tc.url || x.gzip != tc.gzip || x.timeout != tc.timeout {
				t.Errorf("url %s gzip %v timeout %v, want %s %v %v", x.url, x.gzip, x.timeout, tc.url, tc.gzip, tc.timeout)
			}
			for k, v := range tc.headers {
				if got := x.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// Requests carry the configured headers, gzip when asked; a 503 is tried
// again after Retry-After; a 400 is not, and its error says the
// collector's reason.
func TestOTLPHTTPSendsRetriesAndExplains(t *testing.T) {
	ctx := context.Background()
	spans := everySpanShape()[:1]
	c, url := newCollector(t)
	x, err := newOTLPHTTP(func(name string) string {
		return map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url + "/v1/traces",
			"OTEL_EXPORTER_OTLP_HEADERS":         "X-Scope-OrgID=shop",
			"OTEL_EXPORTER_OTLP_COMPRESSION":     "gzip",
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	c.answers = []func(http.ResponseWriter){
		func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		},
	}
	if err := x.ExportSpans(ctx, spans); err != nil {
		t.Fatalf("after one 503: %v", err)
	}
	reqs := c.requests(t)
	if len(reqs) != 2 || !proto.Equal(reqs[0], reqs[1]) {
		t.Fatalf("the collector got %d requests, want the same one twice", len(reqs))
	}
	if got := reqs[1].GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetName(); got != "PlaceOrder" {
		t.Errorf("span %q, want PlaceOrder", got)
	}
	h := c.headers[1]
	if h.Get("X-Scope-OrgID") != "shop" || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("headers %v: want X-Scope-OrgID shop, gzip, application/x-protobuf", h)
	}

	c.answers = []func(http.ResponseWriter){
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusBadRequest)
			b, _ := proto.Marshal(&spb.Status{Code: 3, Message: "trace id is not 16 bytes"})
			_, _ = w.Write(b)
		},
	}
	err = x.ExportSpans(ctx, spans)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: trace id is not 16 bytes") {
		t.Errorf("err = %v, want the collector's 400 and its reason", err)
	}
	if n := len(c.requests(t)); n != 3 {
		t.Errorf("%d requests, want 3: a 400 is not tried again", n)
	}

	if err := x.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := x.ExportSpans(ctx, spans); err == nil {
		t.Error("an export after Shutdown succeeded")
	}
}

// A collector that never answers costs an export its timeout, not more.
func TestOTLPHTTPGivesUpAtItsTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); srv.Close() })
	x, err := newOTLPHTTP(func(name string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": "200"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	err = x.ExportSpans(context.Background(), everySpanShape()[:1])
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("err = %v, want a deadline exceeded", err)
	}
}

// BenchmarkExport exports a batch of 512 spans shaped like the mesh's (an
// RPC's five attributes) to a local endpoint that reads and discards
// them, with the SDK's OTLP/HTTP
// exporter and with this one; ns/op and allocs/op are per batch.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(srv.Close)
	url := srv.URL
	res := resource.NewSchemaless(attribute.String("service.name", "ordermesh-order"), attribute.String("service.namespace", "ordermesh"))
	scope := instrumentation.Scope{Name: "connectrpc.com/otelconnect", Version: "0.12.0"}
	stubs := make(tracetest.SpanStubs, 512)
	start := time.Now()
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{
			Name:        "ordermesh.order.v1.OrderService/PlaceOrder",
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(i), 1}, SpanID: trace.SpanID{byte(i), 2}, TraceFlags: trace.FlagsSampled}),
			Parent:      trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(i), 1}, SpanID: trace.SpanID{byte(i), 3}, Remote: true}),
			SpanKind:    trace.SpanKindServer, StartTime: start, EndTime: start.Add(time.Millisecond),
			Attributes: []attribute.KeyValue{
				attribute.String("rpc.system", "connect_rpc"), attribute.String("rpc.service", "ordermesh.order.v1.OrderService"),
				attribute.String("rpc.method", "PlaceOrder"), attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", 8080),
			},
			Resource: res, InstrumentationScope: scope,
		}
	}
	spans := stubs.Snapshots()
	sdk, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	mine, err := newOTLPHTTP(func(name string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url}[name]
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, ex := range []struct {
		name string
		x    sdktrace.SpanExporter
	}{{"sdk", sdk}, {"wire", mine}} {
		b.Run(ex.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := ex.x.ExportSpans(ctx, spans); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

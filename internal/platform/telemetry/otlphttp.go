package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/internal/platform/buildinfo"
)

// otlpHTTP exports spans over OTLP/HTTP with protobuf bodies, the
// protocol the SDK uses by default, writing each request with encoder.
// It reads the same OTEL_EXPORTER_OTLP_* variables as the SDK's exporter
// and behaves as it does: it retries 429, 502, 503 and 504 (honouring
// Retry-After) and transport errors until the request's time is up, and
// reports a partial success through the OpenTelemetry error handler.
type otlpHTTP struct {
	url     string
	header  http.Header
	gzip    bool
	timeout time.Duration
	client  *http.Client

	// mu guards the buffers; the span queue exports from one goroutine,
	// so it is never contended.
	mu       sync.Mutex
	enc      encoder
	zipped   bytes.Buffer
	zw       *gzip.Writer
	shutdown bool
}

var _ sdktrace.SpanExporter = (*otlpHTTP)(nil)

// errShutdown is returned by an export after Shutdown.
var errShutdown = errors.New("telemetry: the OTLP exporter is shut down")

// newOTLPHTTP returns the exporter the variables getenv reads ask for,
// or nil when they ask for something else: another exporter or protocol
// (grpc, http/json), or TLS files, which are the SDK exporter's to load.
func newOTLPHTTP(getenv func(string) string) (*otlpHTTP, error) {
	either := func(name string) (string, string) {
		if v := getenv("OTEL_EXPORTER_OTLP_TRACES_" + name); v != "" {
			return v, "OTEL_EXPORTER_OTLP_TRACES_" + name
		}
		return getenv("OTEL_EXPORTER_OTLP_" + name), "OTEL_EXPORTER_OTLP_" + name
	}
	if v := getenv("OTEL_TRACES_EXPORTER"); v != "" && v != "otlp" {
		return nil, nil
	}
	if v, _ := either("PROTOCOL"); v != "" && v != "http/protobuf" {
		return nil, nil
	}
	for _, name := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		if v, _ := either(name); v != "" {
			return nil, nil
		}
	}

	x := &otlpHTTP{header: http.Header{}, timeout: 10 * time.Second}
	switch base, traces := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); {
	case traces != "":
		x.url = traces // used as it is, as the specification says
	case base != "":
		x.url = strings.TrimSuffix(base, "/") + "/v1/traces"
	default:
		x.url = "http://localhost:4318/v1/traces"
	}
	if u, err := url.Parse(x.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: OTLP endpoint %q is not an http or https URL", x.url)
	}

	// Headers of both variables, the traces one winning for a key in both.
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		h, err := parseHeaders(getenv(name))
		if err != nil {
			return nil, fmt.Errorf("telemetry: %s: %w", name, err)
		}
		maps.Copy(x.header, h)
	}
	switch v, name := either("COMPRESSION"); v {
	case "", "none":
	case "gzip":
		x.gzip = true
	default:
		return nil, fmt.Errorf("telemetry: %s=%q: want gzip or none", name, v)
	}
	if v, name := either("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("telemetry: %s=%q: want a number of milliseconds", name, v)
		}
		x.timeout = time.Duration(ms) * time.Millisecond
	}
	x.header.Set("Content-Type", "application/x-protobuf")
	x.header.Set("User-Agent", "ordermesh/"+buildinfo.Get().Version+" (OTLP/HTTP exporter)")
	if x.gzip {
		x.header.Set("Content-Encoding", "gzip")
	}
	transport, _ := http.DefaultTransport.(*http.Transport)
	x.client = &http.Client{Transport: transport.Clone()}
	return x, nil
}

// parseHeaders parses "key1=value1,key2=value2" with URL-encoded values,
// the format of OTEL_EXPORTER_OTLP_HEADERS.
func parseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", entry)
		}
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("the value of %s: %w", k, err)
		}
		h.Set(k, value)
	}
	return h, nil
}

// ExportSpans implements sdktrace.SpanExporter.
func (x *otlpHTTP) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.shutdown {
		return errShutdown
	}
	body := x.enc.request(spans)
	if x.gzip {
		var err error
		if body, err = x.compress(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	wait := 250 * time.Millisecond
	for {
		retryAfter, err := x.post(ctx, body)
		if err == nil {
			return nil
		}
		if retryAfter < 0 {
			return err
		}
		// Jittered exponential backoff, or what the collector asked for.
		d := wait/2 + rand.N(wait/2+1) //nolint:gosec // jitter needs no secrecy
		if retryAfter > 0 {
			d = retryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (x *otlpHTTP) compress(body []byte) ([]byte, error) {
	x.zipped.Reset()
	if x.zw == nil {
		x.zw = gzip.NewWriter(&x.zipped)
	} else {
		x.zw.Reset(&x.zipped)
	}
	if _, err := x.zw.Write(body); err != nil {
		return nil, err
	}
	if err := x.zw.Close(); err != nil {
		return nil, err
	}
	return x.zipped.Bytes(), nil
}

// post sends one request. On failure it says whether to try again: after
// the returned duration (0: the caller's backoff), or never (negative).
func (x *otlpHTTP) post(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.url, bytes.NewReader(body))
	if err != nil {
		return -1, err
	}
	req.Header = x.header.Clone()
	resp, err := x.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, err
		}
		return 0, err // the collector may be restarting
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		reportPartialSuccess(answer)
		return 0, nil
	}
	err = fmt.Errorf("telemetry: OTLP export to %s: %s%s", x.url, resp.Status, errorText(resp.Header.Get("Content-Type"), answer))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			return time.Duration(s) * time.Second, err
		}
		return 0, err
	default:
		return -1, err
	}
}

// reportPartialSuccess hands a collector's partial success (spans it
// refused out of an accepted request) to the OpenTelemetry error handler,
// which logs it, as the SDK's exporter does.
func reportPartialSuccess(answer []byte) {
	if len(answer) == 0 {
		return
	}
	var resp coltracepb.ExportTraceServiceResponse
	if proto.Unmarshal(answer, &resp) != nil {
		return
	}
	if ps := resp.GetPartialSuccess(); ps != nil && (ps.GetRejectedSpans() > 0 || ps.GetErrorMessage() != "") {
		otel.Handle(fmt.Errorf("telemetry: the collector refused %d spans: %s", ps.GetRejectedSpans(), ps.GetErrorMessage()))
	}
}

// errorText is a collector's explanation of a refusal: the message of
// the google.rpc.Status a protobuf answer carries, or the start of any
// other answer.
func errorText(contentType string, answer []byte) string {
	if len(answer) == 0 {
		return ""
	}
	if strings.HasPrefix(contentType, "application/x-protobuf") {
		var st spb.Status
		if proto.Unmarshal(answer, &st) == nil && st.GetMessage() != "" {
			return ": " + st.GetMessage()
		}
	}
	return ": " + strings.TrimSpace(string(answer[:min(len(answer), 200)]))
}

// Shutdown implements sdktrace.SpanExporter.
func (x *otlpHTTP) Shutdown(context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.shutdown = true
	x.client.CloseIdleConnections()
	return nil
}

package telemetry

import sdktrace "go.opentelemetry.io/otel/sdk/trace"

// Config lists the OpenTelemetry and Pyroscope variables a binary reads,
// so that `help` documents them and the start-up line shows them, secrets
// masked. The exporter and sampler variables are read by the
// OpenTelemetry SDK itself, as its specification defines them; the
// fields mirror them.
type Config struct {
	SDKDisabled        bool   `env:"OTEL_SDK_DISABLED" default:"false" usage:"true turns tracing off whatever else is set"`
	TracesExporter     string `env:"OTEL_TRACES_EXPORTER" usage:"otlp, console or none; tracing is on when this or an OTLP endpoint is set"`
	Endpoint           string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" secret:"url" usage:"OTLP collector base URL, e.g. http://tempo:4318 (traces go to /v1/traces)"`
	TracesEndpoint     string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" secret:"url" usage:"OTLP traces URL; overrides OTEL_EXPORTER_OTLP_ENDPOINT"`
	Protocol           string `env:"OTEL_EXPORTER_OTLP_PROTOCOL" usage:"http/protobuf (the SDK's default) or grpc"`
	Headers            string `env:"OTEL_EXPORTER_OTLP_HEADERS" secret:"true" usage:"key=value,... sent with every export, e.g. an authorization header"`
	Compression        string `env:"OTEL_EXPORTER_OTLP_COMPRESSION" usage:"gzip, or none"`
	Sampler            string `env:"OTEL_TRACES_SAMPLER" usage:"parentbased_always_on (the SDK's default), parentbased_traceidratio, ..."`
	SamplerArg         string `env:"OTEL_TRACES_SAMPLER_ARG" usage:"the sampler's argument, e.g. 0.1 for a ratio"`
	ResourceAttributes string `env:"OTEL_RESOURCE_ATTRIBUTES" usage:"extra resource attributes, key=value,...; service.name here overrides ordermesh-<service>"`
	ServiceName        string `env:"OTEL_SERVICE_NAME" usage:"overrides the service.name ordermesh-<service>; leave unset where one process runs several services"`

	// Queue sizes each service's span queue.
	Queue QueueConfig

	PyroscopeAddress  string `env:"PYROSCOPE_SERVER_ADDRESS" secret:"url" usage:"Pyroscope server URL; continuous profiling is on when set"`
	PyroscopeUser     string `env:"PYROSCOPE_BASIC_AUTH_USER" usage:"Pyroscope basic-auth user"`
	PyroscopePassword string `env:"PYROSCOPE_BASIC_AUTH_PASSWORD" secret:"true" usage:"Pyroscope basic-auth password"`
	PyroscopeTenant   string `env:"PYROSCOPE_TENANT_ID" usage:"Pyroscope tenant, for a multi-tenant server"`

	// rootSampler, when set, decides for the roots of traces in place
	// of OTEL_TRACES_SAMPLER; a span with a parent follows its parent.
	rootSampler sdktrace.Sampler
}

// WithRootSampler returns c deciding with s whether a trace is recorded;
// a span with a parent follows its parent. It is for measurements that
// switch recording at run time (bench-saga -otlp-alternate); deployments
// choose with OTEL_TRACES_SAMPLER.
func (c Config) WithRootSampler(s sdktrace.Sampler) Config {
	c.rootSampler = s
	return c
}

// Enabled reports whether cfg asks for trace export.
func (c Config) Enabled() bool {
	if c.SDKDisabled {
		return false
	}
	for _, v := range []string{c.TracesExporter, c.Endpoint, c.TracesEndpoint} {
		if v != "" && v != "none" {
			return true
		}
	}
	return false
}

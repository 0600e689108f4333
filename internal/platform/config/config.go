// Package config reads a service's configuration from environment variables
// into a struct, using field tags for the variable name, its default and
// whether it is secret, so that every setting is documented in one place
// and can be logged at start without leaking secrets.
//
//	type Config struct {
//		Addr string `env:"ADDR" default:":8080" usage:"listen address"`
//		Key  string `env:"JWT_SIGNING_KEY" secret:"true" usage:"HS256 key"`
//	}
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Lookup finds an environment variable; os.LookupEnv in production, a map
// in tests.
type Lookup func(name string) (string, bool)

// Load fills the struct that dst points to from the process environment.
func Load(dst any) error { return LoadFrom(os.LookupEnv, dst) }

// LoadFrom fills the struct that dst points to, reading variables through
// lookup. Nested structs are walked; a field without an env tag is skipped.
// Every malformed value is reported, not just the first.
func LoadFrom(lookup Lookup, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("config: Load needs a pointer to a struct")
	}
	var errs []error
	walk(v.Elem(), func(f reflect.StructField, fv reflect.Value) {
		name := f.Tag.Get("env")
		raw, ok := lookup(name)
		if !ok || raw == "" {
			raw, ok = f.Tag.Lookup("default")
		}
		if !ok {
			return
		}
		if err := set(fv, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, mask(f, raw), err))
		}
	})
	return errors.Join(errs...)
}

// LogValue returns the configuration as slog attributes keyed by variable
// name, with secrets masked, for the startup log line.
func LogValue(cfg any) slog.Value {
	var attrs []slog.Attr
	walk(reflect.ValueOf(cfg), func(f reflect.StructField, fv reflect.Value) {
		attrs = append(attrs, slog.String(f.Tag.Get("env"), mask(f, format(fv))))
	})
	return slog.GroupValue(attrs...)
}

// Usage describes every variable with its default, for --help output.
func Usage(cfg any) string {
	var b strings.Builder
	walk(reflect.ValueOf(cfg), func(f reflect.StructField, _ reflect.Value) {
		def := f.Tag.Get("default")
		if f.Tag.Get("secret") == "true" && def != "" {
			def = "(set)"
		}
		fmt.Fprintf(&b, "  %-32s %s (default %q)\n", f.Tag.Get("env"), f.Tag.Get("usage"), def)
	})
	return b.String()
}

// Names lists the variables cfg reads, in field order.
func Names(cfg any) []string {
	var names []string
	walk(reflect.ValueOf(cfg), func(f reflect.StructField, _ reflect.Value) {
		names = append(names, f.Tag.Get("env"))
	})
	return names
}

// walk calls fn for every field with an env tag in v, a struct or a
// pointer to one, in field order. Nested structs are walked, and so are
// the pointers to structs in a field of type []any: the configurations
// of parts that only the program assembling them knows.
func walk(v reflect.Value, fn func(reflect.StructField, reflect.Value)) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
			walk(fv, fn)
			continue
		}
		if f.Type == reflect.TypeFor[[]any]() {
			for j := range fv.Len() {
				walk(fv.Index(j), fn)
			}
			continue
		}
		if f.Tag.Get("env") != "" {
			fn(f, fv)
		}
	}
}

// mask hides secrets: the whole value for secret:"true", only the password
// for secret:"url", so the log still shows which host is used.
func mask(f reflect.StructField, value string) string {
	switch {
	case value == "":
		return value
	case f.Tag.Get("secret") == "true":
		return "***"
	case f.Tag.Get("secret") == "url":
		u, err := url.Parse(value)
		if err != nil {
			return "***"
		}
		if _, has := u.User.Password(); !has {
			return value
		}
		return u.Redacted()
	}
	return value
}

func set(fv reflect.Value, raw string) error {
	switch fv.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("not a duration such as 30s or 5m")
		}
		fv.SetInt(int64(d))
		return nil
	case []string:
		var parts []string
		for p := range strings.SplitSeq(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return errors.New("not a whole number")
		}
		fv.SetInt(n)
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}

func format(fv reflect.Value) string {
	switch x := fv.Interface().(type) {
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ",")
	default:
		return fmt.Sprint(x)
	}
}

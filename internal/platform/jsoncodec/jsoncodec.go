// Package jsoncodec is the JSON codec every ordermesh server speaks: the
// one Connect uses by default, except that an enum value given by a name
// the schema does not have is an error that names the field.
//
// Connect's codec, like protojson with DiscardUnknown, drops such a value
// in silence: {"statuses":["ORDER_STATUS_NOPE"]} becomes a filter on no
// status, which matches every order. Unknown fields are still dropped, so
// that clients built from a newer schema keep working.
package jsoncodec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// HandlerOptions install the codec under both names Connect serves JSON
// as.
func HandlerOptions() []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithCodec(&Codec{name: "json"}), connect.WithCodec(&Codec{name: "json; charset=utf-8"})}
}

// Codec is a connect.Codec for protobuf messages as JSON.
type Codec struct{ name string }

var (
	strict  = protojson.UnmarshalOptions{}
	lenient = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// Name implements connect.Codec.
func (c *Codec) Name() string { return c.name }

// Marshal implements connect.Codec.
func (c *Codec) Marshal(message any) ([]byte, error) {
	m, ok := message.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", message)
	}
	return protojson.MarshalOptions{}.Marshal(m)
}

// MarshalStable implements Connect's stable codec, which GET requests
// need: the same message, the same bytes.
func (c *Codec) MarshalStable(message any) ([]byte, error) {
	b, err := c.Marshal(message)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// IsBinary implements Connect's stable codec.
func (c *Codec) IsBinary() bool { return false }

// Unmarshal implements connect.Codec. A message that decodes strictly is
// the common case and costs one pass. One that does not is decoded
// leniently, then searched for enum names the schema does not have.
func (c *Codec) Unmarshal(data []byte, message any) error {
	m, ok := message.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", message)
	}
	if len(data) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	if strict.Unmarshal(data, m) == nil {
		return nil
	}
	if err := lenient.Unmarshal(data, m); err != nil {
		return err
	}
	// The lenient decoder took what the strict one refused: unknown
	// fields, which are dropped, or unknown enum names, which are not.
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if err := checkMessage("", m.ProtoReflect().Descriptor(), doc); err != nil {
		proto.Reset(m)
		return err
	}
	return nil
}

// checkMessage looks for an unknown enum name in v, the JSON of a message
// md, at path.
func checkMessage(path string, md protoreflect.MessageDescriptor, v any) error {
	obj, ok := v.(map[string]any)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return nil // protojson has judged its shape; well-known types have their own forms
	}
	fields := md.Fields()
	for key, val := range obj {
		fd := fields.ByJSONName(key)
		if fd == nil {
			fd = fields.ByTextName(key)
		}
		if fd == nil || val == nil {
			continue // unknown fields are dropped
		}
		name := join(path, string(fd.Name()))
		var err error
		switch {
		case fd.IsMap():
			entries, _ := val.(map[string]any)
			for k, ev := range entries {
				if err = checkValue(name+"["+strconv.Quote(k)+"]", fd.MapValue(), ev); err != nil {
					break
				}
			}
		case fd.IsList():
			items, _ := val.([]any)
			for i, item := range items {
				if err = checkValue(name+"["+strconv.Itoa(i)+"]", fd, item); err != nil {
					break
				}
			}
		default:
			err = checkValue(name, fd, val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkValue checks one value of field fd.
func checkValue(path string, fd protoreflect.FieldDescriptor, v any) error {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		s, ok := v.(string)
		ed := fd.Enum()
		if !ok || ed.FullName() == "google.protobuf.NullValue" || ed.Values().ByName(protoreflect.Name(s)) != nil {
			return nil // a number, or a name it has
		}
		return fmt.Errorf("%s: %q is no value of %s; use one of %s", path, s, ed.Name(), names(ed))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(path, fd.Message(), v)
	}
	return nil
}

func names(ed protoreflect.EnumDescriptor) string {
	values := ed.Values()
	out := make([]string, values.Len())
	for i := range values.Len() {
		out[i] = string(values.Get(i).Name())
	}
	return strings.Join(out, ", ")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

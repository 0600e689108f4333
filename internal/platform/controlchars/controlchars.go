// Package controlchars refuses requests whose strings carry NUL or other C0
// control characters, before any handler or database sees them: PostgreSQL
// refuses NUL in text (SQLSTATE 22021), a log line or a CSV export is
// corrupted by the others, and nobody types them. Tab and newline are
// allowed only in fields that hold free text, such as a product's
// description. The check walks every string of a request, nested messages,
// lists and maps included, so a new field is covered without a rule of
// its own.
package controlchars

import (
	"context"
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// FreeText lists the fields, by full name, whose text may span lines:
// tab, newline and carriage return are allowed there.
type FreeText map[protoreflect.FullName]bool

// Field names one field of a message, for FreeText:
// Field(&catalogv1.CreateProductRequest{}, "description").
func Field(msg proto.Message, name protoreflect.Name) protoreflect.FullName {
	fd := msg.ProtoReflect().Descriptor().Fields().ByName(name)
	if fd == nil {
		panic(fmt.Sprintf("controlchars: %s has no field %s", msg.ProtoReflect().Descriptor().FullName(), name)) //nolint:forbidigo // a typo in a package variable
	}
	return fd.FullName()
}

// NewInterceptor returns an interceptor that answers InvalidArgument,
// naming the field, for a request string with a control character.
func NewInterceptor(freeText FreeText) connect.Interceptor {
	return &interceptor{freeText: freeText}
}

// Check returns an InvalidArgument error naming the first field of msg
// whose string holds a control character that field does not allow, or
// nil.
func Check(msg proto.Message, freeText FreeText) error {
	return (&interceptor{freeText: freeText}).walk(msg.ProtoReflect(), "")
}

type interceptor struct{ freeText FreeText }

func (i *interceptor) walk(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				at := path + "[" + strconv.Quote(k.String()) + "]"
				if fd.MapKey().Kind() == protoreflect.StringKind {
					if err = i.check(fd, at+" (key)", k.String()); err != nil {
						return false
					}
				}
				err = i.value(fd.MapValue(), mv, at)
				return err == nil
			})
		case fd.IsList():
			l := v.List()
			for n := range l.Len() {
				if err = i.value(fd, l.Get(n), fmt.Sprintf("%s[%d]", path, n)); err != nil {
					break
				}
			}
		default:
			err = i.value(fd, v, path)
		}
		return err == nil
	})
	return err
}

func (i *interceptor) value(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return i.check(fd, path, v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return i.walk(v.Message(), path+".")
	}
	return nil
}

func (i *interceptor) check(fd protoreflect.FieldDescriptor, path, s string) error {
	text := i.freeText[fd.FullName()]
	for at, r := range s {
		control := r < 0x20 || r == 0x7f
		lineBreakOrTab := r == '\t' || r == '\n' || r == '\r'
		if control && (!text || !lineBreakOrTab) {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
				"validation error: %s: must not contain control characters (U+%04X at byte %d)", path, r, at))
		}
	}
	return nil
}

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			if m, ok := req.Any().(proto.Message); ok {
				if err := i.walk(m.ProtoReflect(), ""); err != nil {
					return nil, err
				}
			}
		}
		return next(ctx, req)
	}
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &checkedConn{StreamingHandlerConn: conn, i: i})
	}
}

// checkedConn checks every message a client streams in.
type checkedConn struct {
	connect.StreamingHandlerConn
	i *interceptor
}

func (c *checkedConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	if m, ok := msg.(proto.Message); ok {
		return c.i.walk(m.ProtoReflect(), "")
	}
	return nil
}

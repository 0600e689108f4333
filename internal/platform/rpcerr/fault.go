// Package rpcerr is the one place where errors become Connect errors.
//
// Business code declares sentinels with New, naming the kind of failure
// without knowing about Connect, and returns them with detail through
// Errorf. The interceptor maps every error a handler returns: a sentinel's
// kind picks the Connect code and its message goes to the client; anything
// else is logged with the trace id and answered with a generic Internal, so a
// client never sees SQL, a driver message or a stack.
package rpcerr

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Kind classifies a failure the way a client needs to react to it.
type Kind int

// The kinds, each mapped to one Connect code.
const (
	KindInvalid         Kind = iota + 1 // InvalidArgument: fix the request
	KindNotFound                        // NotFound
	KindExists                          // AlreadyExists
	KindPrecondition                    // FailedPrecondition: the state does not allow it
	KindPermission                      // PermissionDenied
	KindUnauthenticated                 // Unauthenticated
	KindExhausted                       // ResourceExhausted: a limit is reached
	KindUnavailable                     // Unavailable: try again later
	KindAborted                         // Aborted: a conflict; try again
)

// Sentinel is a named failure of one kind, compared with errors.Is.
type Sentinel struct {
	kind Kind
	msg  string
}

// New declares a sentinel of the given kind with a default message.
func New(kind Kind, msg string) *Sentinel { return &Sentinel{kind: kind, msg: msg} }

func (s *Sentinel) Error() string { return s.msg }

// Kind reports the sentinel's kind.
func (s *Sentinel) Kind() Kind { return s.kind }

// detailed is a sentinel with a message for this occurrence and, for the
// server's log only, what caused it.
type detailed struct {
	sentinel *Sentinel
	msg      string
	cause    error
}

func (d *detailed) Error() string { return d.msg }
func (d *detailed) Unwrap() error { return d.sentinel }

// Errorf returns an error that is the sentinel (errors.Is holds) but says
// what happened this time, for example `product "X-1" does not exist`. The
// message goes to the client verbatim, so it must not carry foreign error
// text: format values, not errors.
func Errorf(s *Sentinel, format string, args ...any) error {
	return &detailed{sentinel: s, msg: fmt.Sprintf(format, args...)}
}

// Wrapf is Errorf for a failure with a foreign cause, such as another
// service's or the network's error: the client sees only the message, and
// the server's log line for the call reads "message: cause" (see Logged).
func Wrapf(s *Sentinel, cause error, format string, args ...any) error {
	return &detailed{sentinel: s, msg: fmt.Sprintf(format, args...), cause: cause}
}

// Logged is how err reads in the server's log: its text and, when a
// sentinel was made with Wrapf, the cause the client never sees, for
// example "the catalog is unavailable; try again shortly: unavailable:
// dial tcp 127.0.0.1:8080: connect: connection refused".
func Logged(err error) string {
	var d *detailed
	if errors.As(err, &d) && d.cause != nil {
		return err.Error() + ": " + d.cause.Error()
	}
	return err.Error()
}

// kindOf finds the sentinel kind of err and the message meant for the
// client: the outermost message that belongs to a sentinel.
func kindOf(err error) (Kind, string, bool) {
	var d *detailed
	if errors.As(err, &d) {
		return d.sentinel.kind, d.msg, true
	}
	var s *Sentinel
	if errors.As(err, &s) {
		return s.kind, s.msg, true
	}
	return 0, "", false
}

// withDetails carries Protobuf messages a client receives as the Connect
// error's details.
type withDetails struct {
	err     error
	details []proto.Message
}

func (w *withDetails) Error() string { return w.err.Error() }
func (w *withDetails) Unwrap() error { return w.err }

// WithDetails attaches details to a sentinel error: structured facts a
// client program reads instead of parsing the message (a changed total,
// say). Details on an error that maps to Internal are dropped.
func WithDetails(err error, details ...proto.Message) error {
	return &withDetails{err: err, details: details}
}

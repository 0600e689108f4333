module github.com/ordermesh/ordermesh/examples/go-client

go 1.24.0

require (
	connectrpc.com/connect v1.19.1
	github.com/ordermesh/ordermesh/gen/go v0.0.0
)

require (
	buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go v1.36.12-20260825204119-511051f7f437.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The client module as it is in this checkout. A project of its own
// requires a released version instead (go get
// github.com/ordermesh/ordermesh/gen/go@v0.2.0) and needs no replace.
replace github.com/ordermesh/ordermesh/gen/go => ../../gen/go

// Package schema is the ordermesh API's Protobuf schema with its
// comments: every .proto file and its imports as one FileDescriptorSet
// with source info (ordermesh.binpb, written by `buf build` in `make
// generate`). The mesh's reflection serves it, so `grpcurl describe` shows
// the comments; the file itself is for tools that take a schema:
//
//	buf curl --schema gen/go/schema/ordermesh.binpb …
//	grpcurl -protoset gen/go/schema/ordermesh.binpb …
//
// It is written by hand beside the generated packages, which buf owns.
package schema

import (
	_ "embed"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// FileDescriptorSet is ordermesh.binpb's bytes.
//
//go:embed ordermesh.binpb
var FileDescriptorSet []byte

var files = sync.OnceValues(func() (*protoregistry.Files, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(FileDescriptorSet, &set); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	f, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return f, nil
})

// Files returns the schema's files, comments included, built once.
func Files() (*protoregistry.Files, error) { return files() }

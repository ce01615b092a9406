// Package featurepb holds the Go code generated from feature_value.proto,
// Feathr's FeatureValue message (proto2, package protobuf). The sink
// package encodes values by hand with protowire on the hot path; this code
// is the reference the tests check that encoding against.
//
// Regenerate with `go generate ./sink/...`; it needs protoc and
// protoc-gen-go v1.36.12 on PATH
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
//
// It imports only the protobuf runtime; sink and its tests import it.
package featurepb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative feature_value.proto

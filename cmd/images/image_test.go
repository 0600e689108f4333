package main

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func spec() Spec {
	return Spec{
		Name: "catalog", Binary: []byte("\x7fELF pretend binary"), CACerts: []byte("-----BEGIN CERTIFICATE-----\n"),
		Version: "v1.2.3", Revision: "0123456789abcdef", Source: "https://example.test/ordermesh",
		Created: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), Platform: v1.Platform{OS: "linux", Architecture: "amd64"},
	}
}

func TestBuildIsReproducible(t *testing.T) {
	a, err := Build(spec())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(spec())
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds of the same inputs: %s != %s", da, db)
	}
	// The tarball written to disk keeps that digest.
	dir := t.TempDir()
	ref, _ := name.NewTag("ordermesh/catalog:v1.2.3")
	path := filepath.Join(dir, "catalog.tar")
	if err := tarball.WriteToFile(path, ref, a); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(path, &ref)
	if err != nil {
		t.Fatal(err)
	}
	if dl, _ := loaded.Digest(); dl != da {
		t.Errorf("digest after the tarball round trip = %s, want %s", dl, da)
	}
	other := spec()
	other.Revision = "fedcba9876543210"
	c, _ := Build(other)
	if dc, _ := c.Digest(); dc == da {
		t.Errorf("a different revision gave the same digest %s", dc)
	}
}

func TestImageRunsAsNonRootWithoutShell(t *testing.T) {
	img, err := Build(spec())
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user = %q, want numeric non-root 65532:65532", cf.Config.User)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/usr/local/bin/catalog" {
		t.Errorf("entrypoint = %q", got)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": "0123456789abcdef",
		"org.opencontainers.image.created":  "2026-11-01T12:00:00Z",
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform = %s/%s", cf.OS, cf.Architecture)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	for _, want := range []string{"usr/local/bin/catalog", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "tmp/"} {
		if files[want] == nil {
			t.Errorf("image lacks %s", want)
		}
	}
	if h := files["usr/local/bin/catalog"]; h != nil && (h.Mode&0o111 == 0 || h.Uid != 0) {
		t.Errorf("binary mode %o uid %d: want executable, owned by root so the app cannot rewrite it", h.Mode, h.Uid)
	}
	for name := range files {
		if strings.HasSuffix(name, "/sh") || strings.HasPrefix(name, "bin/") {
			t.Errorf("image has %s: there must be no shell", name)
		}
	}
}

func TestBuildRefusesMissingInputs(t *testing.T) {
	s := spec()
	s.CACerts = nil
	if _, err := Build(s); err == nil || !strings.Contains(err.Error(), "CA certificates") {
		t.Errorf("Build without CA certificates = %v", err)
	}
	s = spec()
	s.Binary = nil
	if _, err := Build(s); err == nil || !strings.Contains(err.Error(), "empty binary") {
		t.Errorf("Build without a binary = %v", err)
	}
}

// PUSH=<registry>/ordermesh: the image arrives whole, under its digest.
func TestPushToARegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := Build(spec())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://") + "/ordermesh/catalog:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(context.Background(), ref, img); err != nil {
		t.Fatalf("Push: %v", err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull back: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled digest %s, pushed %s", d, want)
	}
	cf, err := got.ConfigFile()
	if err != nil || cf.Config.Labels["org.opencontainers.image.revision"] != "0123456789abcdef" {
		t.Errorf("pulled config %+v, %v: labels lost", cf, err)
	}
}

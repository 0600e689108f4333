package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// UID and GID the images run as: a numeric non-root user, so that
// Kubernetes' runAsNonRoot can verify it without a passwd lookup.
const (
	UID = 65532
	GID = 65532
)

// Spec describes one image.
type Spec struct {
	Name     string // service name: catalog, ..., gateway
	Binary   []byte // static linux binary
	CACerts  []byte // PEM bundle for /etc/ssl/certs/ca-certificates.crt
	Version  string
	Revision string
	Source   string
	Created  time.Time // the commit's time, so that rebuilds give the same digest
	Platform v1.Platform
}

// Entrypoint is where the binary lives in every image.
func (s Spec) Entrypoint() string { return "/usr/local/bin/" + s.Name }

// Build assembles a scratch image with one layer: the binary, CA
// certificates, and passwd/group entries for the non-root user. There is
// no shell and no package manager. Every timestamp is s.Created and every
// owner is fixed, so the same inputs give the same digest.
func Build(s Spec) (v1.Image, error) {
	layerTar, err := rootfs(s)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	// Docker schema 2 media types: docker load and containerd's import
	// keep them as they are, so the digest printed here is the digest the
	// runtime shows. Registries take them as well as OCI's.
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:     layer,
		MediaType: types.DockerLayer,
		History:   v1.History{Created: v1.Time{Time: s.Created}, CreatedBy: "ordermesh images: " + s.Name, Comment: "static binary, CA certificates, non-root user"},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Variant = s.Platform.Architecture, s.Platform.OS, s.Platform.Variant
	cf.Created = v1.Time{Time: s.Created}
	cf.Config.User = strconv.Itoa(UID) + ":" + strconv.Itoa(GID)
	cf.Config.Entrypoint = []string{s.Entrypoint()}
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	if s.Name != "gateway" {
		cf.Config.ExposedPorts["9090/tcp"] = struct{}{}
	}
	cf.Config.Labels = Labels(s)
	return mutate.ConfigFile(img, cf)
}

// Labels are the image's OCI annotations-as-labels.
func Labels(s Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "ordermesh-" + s.Name,
		"org.opencontainers.image.description": "ordermesh " + s.Name + " service",
		"org.opencontainers.image.version":     s.Version,
		"org.opencontainers.image.revision":    s.Revision,
		"org.opencontainers.image.source":      s.Source,
		"org.opencontainers.image.created":     s.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.vendor":      "ordermesh",
		"org.opencontainers.image.base.name":   "scratch",
	}
}

func rootfs(s Spec) ([]byte, error) {
	if len(s.Binary) == 0 {
		return nil, fmt.Errorf("%s: empty binary", s.Name)
	}
	if len(s.CACerts) == 0 {
		return nil, fmt.Errorf("%s: no CA certificates", s.Name)
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: s.Created, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: s.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, s.CACerts) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, UID) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(path.Clean(s.Entrypoint()[1:]), 0o755, s.Binary) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

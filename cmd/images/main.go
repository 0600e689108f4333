// Command images builds one OCI image per ordermesh binary without a
// Docker engine: a static Go binary on a scratch base with CA certificates
// and a numeric non-root user. It writes docker-archive tarballs that
// `kind load image-archive`, `docker load` and `ctr images import` accept,
// or pushes to a registry with -push. Builds are reproducible: the same
// commit gives the same digests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ordermesh/ordermesh/internal/meshtable"
)

// Binaries are the images `make images` builds: every service (the list
// cmd/meshgen writes from the components), the gateway, the smoke test
// that `helm test` runs, and the steady load that `make k8s-e2e` runs
// inside the cluster during its rollouts.
var Binaries = append(slices.Clone(meshtable.Services), "gateway", "smoke", "steady")

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", ".build/images", "directory for the image tarballs")
	repo := flag.String("repo", "ordermesh", "image repository prefix: <repo>/<service>:<tag>")
	push := flag.String("push", "", "push to this repository prefix (e.g. ghcr.io/acme/ordermesh) instead of writing tarballs")
	tag := flag.String("tag", "", "image tag (default: the git describe of HEAD)")
	arch := flag.String("arch", runtime.GOARCH, "target architecture")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle copied into every image")
	only := flag.String("only", strings.Join(Binaries, ","), "comma-separated binaries to build")
	flag.Parse()

	ca, err := os.ReadFile(*certs)
	if err != nil {
		return fmt.Errorf("CA certificates: %w (install Debian's ca-certificates or pass -ca-certificates)", err)
	}
	ctx := context.Background()
	rev, created, version, err := gitInfo(ctx)
	if err != nil {
		return err
	}
	if *tag == "" {
		*tag = version
	}
	prefix := *repo
	if *push != "" {
		prefix = *push
	}
	work, err := os.MkdirTemp("", "ordermesh-images-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	if *push == "" {
		if err := os.MkdirAll(*out, 0o750); err != nil {
			return err
		}
	}
	for bin := range strings.SplitSeq(*only, ",") {
		binary, err := compile(ctx, bin, *arch, stamp{version, rev, created}, work)
		if err != nil {
			return err
		}
		img, err := Build(Spec{
			Name: bin, Binary: binary, CACerts: ca,
			Version: version, Revision: rev, Created: created,
			Source:   "https://github.com/ordermesh/ordermesh",
			Platform: v1.Platform{OS: "linux", Architecture: *arch},
		})
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		ref, err := name.NewTag(prefix + "/" + bin + ":" + *tag)
		if err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		if *push != "" {
			if err := Push(ctx, ref, img); err != nil {
				return err
			}
			fmt.Printf("image %s pushed digest=%s\n", ref, digest)
			continue
		}
		path := filepath.Join(*out, bin+".tar")
		if err := tarball.WriteToFile(path, ref, img); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("image %s file=%s digest=%s bytes=%d\n", ref, path, digest, fi.Size())
	}
	return nil
}

// Push uploads img as ref, with the credentials docker login stored.
func Push(ctx context.Context, ref name.Reference, img v1.Image) error {
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

// stamp is what a binary says of its build (/healthz, `version`,
// ordermesh_build_info): -buildvcs=false keeps Go's own VCS data out of
// the reproducible binary, so the revision is stamped too.
type stamp struct {
	version, revision string
	time              time.Time
}

// compile builds a static, path-free binary of ./cmd/<bin>.
func compile(ctx context.Context, bin, arch string, st stamp, dir string) ([]byte, error) {
	out := filepath.Join(dir, bin)
	const pkg = "github.com/ordermesh/ordermesh/internal/platform/buildinfo"
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Revision=%s -X %s.BuildTime=%s",
		pkg, st.version, pkg, st.revision, pkg, st.time.Format(time.RFC3339))
	//nolint:gosec // bin is one of Binaries or a name from -only; arguments, not a shell
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/"+bin)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/%s: %w", bin, err)
	}
	return os.ReadFile(out) //nolint:gosec // the file go build just wrote
}

// gitInfo returns HEAD's revision and commit time, and a version from git
// describe ("dev" outside a repository). A tree with uncommitted changes
// gets a "-dirty" version but keeps HEAD's time.
func gitInfo(ctx context.Context) (rev string, created time.Time, version string, err error) {
	git := func(args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, "git", args...).Output() //nolint:gosec // fixed git subcommands
		return strings.TrimSpace(string(b)), err
	}
	rev, err = git("rev-parse", "HEAD")
	if err != nil {
		return "unknown", time.Unix(0, 0).UTC(), "dev", nil //nolint:nilerr // outside git: still build
	}
	ts, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("git log: %w", err)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("commit time %q: %w", ts, err)
	}
	version, err = git("describe", "--tags", "--always", "--dirty")
	if err != nil {
		version = rev[:12]
	}
	return rev, time.Unix(secs, 0).UTC(), version, nil
}

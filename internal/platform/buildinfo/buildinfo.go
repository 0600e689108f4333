// Package buildinfo says which build of ordermesh is running: its version,
// the revision it was built from and when, for `ordermesh version`,
// /healthz and the ordermesh_build_info metric.
package buildinfo

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Version, Revision and BuildTime are stamped with -ldflags
// "-X …/buildinfo.Version=v1.2.3": `make images` sets the version, `make
// run` and `make build` the revision (`go run` and workspace builds record
// no VCS data of their own). Unstamped, Version falls back to the module
// version (`go install …@v1.2.3`), Revision to the VCS data Go recorded,
// and BuildTime to the executable's modification time.
var (
	Version   = "dev"
	Revision  = ""
	BuildTime = ""
)

// Info describes the running build.
type Info struct {
	// Version is the release, "dev" for a build from a checkout.
	Version string `json:"version"`
	// Revision is the VCS commit, "unknown" outside a checkout.
	Revision string `json:"revision"`
	// Modified says the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// CommitTime is when Revision was committed, RFC 3339.
	CommitTime string `json:"commit_time,omitempty"`
	// BuildTime is when the binary was built, RFC 3339.
	BuildTime string `json:"build_time,omitempty"`
	// GoVersion is the toolchain that built it.
	GoVersion string `json:"go_version"`
}

// Get returns the running build's information.
var Get = sync.OnceValue(read)

func read() Info {
	info := Info{Version: Version, Revision: "unknown", BuildTime: BuildTime, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; info.Version == "dev" && v != "" && v != "(devel)" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.CommitTime = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if Revision != "" {
		info.Revision = strings.TrimSuffix(Revision, "-dirty")
		info.Modified = strings.HasSuffix(Revision, "-dirty")
	}
	if info.BuildTime == "" {
		if exe, err := os.Executable(); err == nil {
			if st, err := os.Stat(exe); err == nil {
				info.BuildTime = st.ModTime().UTC().Format(time.RFC3339)
			}
		}
	}
	return info
}

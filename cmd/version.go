package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time by the Makefile and the Dockerfile:
//
//	go build -ldflags "-X github.com/feathrgo/feathr/cmd.version=$(git describe --tags --always --dirty)"
var version string

// VersionInfo says which build of feathr this is.
type VersionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Version returns the build's version: the one set with -ldflags, else
// the module version and VCS stamp Go recorded, else "devel".
func Version() VersionInfo {
	v := VersionInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
		if v.Commit != "" {
			v.Version += "-" + v.Commit[:min(12, len(v.Commit))]
			if v.Modified {
				v.Version += "-dirty"
			}
		}
	}
	return v
}

// String is the one-line form feathr version prints.
func (v VersionInfo) String() string {
	s := "feathr " + v.Version
	if v.Commit != "" {
		s += " (commit " + v.Commit[:min(12, len(v.Commit))]
		if v.Modified {
			s += ", modified"
		}
		if v.Time != "" {
			s += ", " + v.Time
		}
		s += ")"
	}
	return s + " " + v.Go + " " + v.Platform
}

// VersionOptions are the options of feathr version.
type VersionOptions struct {
	IO     IOStreams
	Output string
}

func newVersionCmd(f *Factory, run func(context.Context, *VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print feathr's version",
		Long: `Print feathr's version, the commit it was built from, and the Go version
and platform of the build. -o json prints it as one JSON object.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output must be text or json, not %q", opts.Output)
			}
			if run != nil {
				return run(c.Context(), opts)
			}
			return runVersion(opts)
		},
	}
	c.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	return c
}

func runVersion(opts *VersionOptions) error {
	v := Version()
	if opts.Output == "json" {
		return json.NewEncoder(opts.IO.Out).Encode(v)
	}
	_, err := fmt.Fprintln(opts.IO.Out, v)
	return err
}

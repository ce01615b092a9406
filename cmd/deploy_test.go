package cmd

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// parseMaterialize parses a feathr command line (without "feathr") as
// materialize would, without running it.
func parseMaterialize(t *testing.T, args []string) *MaterializeOptions {
	t.Helper()
	if len(args) == 0 || args[0] != "materialize" {
		t.Fatalf("command line %q: want materialize ...", args)
	}
	var got *MaterializeOptions
	c := newMaterializeCmd(NewFactory(IOStreams{}), func(_ context.Context, o *MaterializeOptions) error { got = o; return nil })
	c.SetArgs(args[1:])
	c.SilenceErrors, c.SilenceUsage = true, true
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("command line %q: %v", args, err)
	}
	return got
}

// TestDeployKubernetes checks deploy/kubernetes/deployment.yaml against
// the code: its feature definitions validate, its arguments parse, and
// its probes and port are the ones --metrics-addr serves.
func TestDeployKubernetes(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../deploy/kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	var (
		features  string
		container struct {
			Args  []string `yaml:"args"`
			Ports []struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			} `yaml:"ports"`
			Env []struct {
				Name      string         `yaml:"name"`
				Value     string         `yaml:"value"`
				ValueFrom map[string]any `yaml:"valueFrom"`
			} `yaml:"env"`
			Liveness  probe `yaml:"livenessProbe"`
			Readiness probe `yaml:"readinessProbe"`
		}
		kinds []string
	)
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []yaml.Node `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kinds = append(kinds, doc.Kind)
		switch doc.Kind {
		case "ConfigMap":
			features = doc.Data["features.yaml"]
		case "Deployment":
			if err := doc.Spec.Template.Spec.Containers[0].Decode(&container); err != nil {
				t.Fatal(err)
			}
		}
	}
	if strings.Join(kinds, ",") != "ConfigMap,Deployment,Service" {
		t.Fatalf("kinds %v", kinds)
	}

	// The secrets come from a Secret, never a literal value.
	env := map[string]bool{}
	for _, e := range container.Env {
		if e.Value != "" || e.ValueFrom == nil {
			t.Errorf("env %s is not taken from a Secret or a field", e.Name)
		}
		env[e.Name] = true
	}
	path := writeFile(t, "features.yaml", features)
	code, out, errOut := runCmd(t, context.Background(), "", map[string]string{"REDIS_PASSWORD": "x", "KAFKA_PASSWORD": "y"}, "validate", "-f", path)
	if code != ExitOK {
		t.Errorf("the ConfigMap's features.yaml does not validate: %s%s", out, errOut)
	}
	for _, v := range regexp.MustCompile(`\$\{(\w+)\}`).FindAllStringSubmatch(features, -1) {
		if !env[v[1]] {
			t.Errorf("features.yaml uses ${%s}, which the container's env does not set", v[1])
		}
	}

	opts := parseMaterialize(t, container.Args)
	if opts.File != "/etc/feathr/features.yaml" || opts.MetricsAddr != ":9464" || opts.LogFormat != "json" {
		t.Errorf("args %q: file %s, metrics %s, log %s", container.Args, opts.File, opts.MetricsAddr, opts.LogFormat)
	}
	if len(container.Ports) != 1 || container.Ports[0].ContainerPort != 9464 || container.Ports[0].Name != "metrics" {
		t.Errorf("ports %+v, want metrics 9464", container.Ports)
	}
	if p := container.Liveness.HTTPGet; p.Path != "/healthz" || p.Port != "metrics" {
		t.Errorf("liveness probe %+v, want /healthz on metrics", p)
	}
	if p := container.Readiness.HTTPGet; p.Path != "/readyz" || p.Port != "metrics" {
		t.Errorf("readiness probe %+v, want /readyz on metrics", p)
	}
}

// TestDeploySystemd checks that the unit's command line parses and that
// its secrets come from an EnvironmentFile.
func TestDeploySystemd(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/systemd/feathr.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(b), "\\\n", " ")
	exec := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/feathr (.*)$`).FindStringSubmatch(unit)
	if exec == nil {
		t.Fatal("no ExecStart=/usr/local/bin/feathr ...")
	}
	opts := parseMaterialize(t, strings.Fields(exec[1]))
	if opts.MetricsAddr == "" || opts.File != "/etc/feathr/features.yaml" {
		t.Errorf("ExecStart %q: metrics %q, file %q", exec[1], opts.MetricsAddr, opts.File)
	}
	for _, want := range []string{"EnvironmentFile=/etc/feathr/feathr.env", "NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes", "KillSignal=SIGTERM"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("the unit has no %s", want)
		}
	}
}

// TestDeployVersionLdflags checks that the Makefile and the Dockerfile set
// the variable feathr version reads.
func TestDeployVersionLdflags(t *testing.T) {
	t.Parallel()
	const x = "-X github.com/feathrgo/feathr/cmd.version="
	for _, name := range []string{"../Makefile", "../Dockerfile"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), x) {
			t.Errorf("%s does not set %s...", name, x)
		}
	}
	_ = version // the variable the flag names exists
}

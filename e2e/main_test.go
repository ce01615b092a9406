package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/feathrgo/feathr/internal/testenv"
)

// feathrBin is the path of the feathr binary the tests run.
var feathrBin string

// TestMain finds the feathr binary in $FEATHR_BIN, or builds one into a
// temporary directory when the suite will run (a broker is configured or
// required).
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	feathrBin = os.Getenv("FEATHR_BIN")
	wanted := os.Getenv(testenv.KafkaBrokersEnv) != "" || os.Getenv(testenv.RequireKafkaEnv) == "1"
	if feathrBin == "" && wanted {
		dir, err := os.MkdirTemp("", "feathr-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		feathrBin = filepath.Join(dir, "feathr")
		build := exec.Command("go", "build", "-o", feathrBin, "github.com/feathrgo/feathr")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building feathr:", err)
			return 1
		}
	}
	return m.Run()
}

// Command feathr streams Kafka events into fresh, per-entity features in
// Redis. See the README for the YAML format and the commands.
package main

import (
	"context"
	"os"

	"github.com/feathrgo/feathr/cmd"
)

func main() {
	os.Exit(cmd.Run(context.Background(), os.Args[1:], cmd.SystemStreams()))
}

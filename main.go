// Command feathr streams Kafka events into fresh, per-entity features in
// Redis. See the README for the YAML format and the commands.
//
// main only hands the process's arguments and streams to cmd.Run; it
// imports cmd and no other feathr package.
package main

import (
	"context"
	"os"

	"github.com/feathrgo/feathr/cmd"
)

func main() {
	os.Exit(cmd.Run(context.Background(), os.Args[1:], cmd.SystemStreams()))
}

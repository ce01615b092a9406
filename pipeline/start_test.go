package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestNewClientGivesUp checks that the first connection to a broker that
// never answers ends at the start timeout, or when the run is canceled,
// rather than after sarama's minutes of retries.
func TestNewClientGivesUp(t *testing.T) {
	addr := testenv.SilentAddr(t)
	cfg := sarama.NewConfig()
	tests := []struct {
		name    string
		timeout time.Duration
		cancel  bool
		want    string
	}{
		{"start timeout", 300 * time.Millisecond, false, "no broker answered within 300ms"},
		{"canceled", time.Minute, true, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			done := make(chan error, 1)
			go func() {
				c, err := newClient(ctx, []string{addr}, cfg, tt.timeout)
				if c != nil {
					c.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("newClient: %v, want an error containing %q", err, tt.want)
				}
				if tt.cancel && !errors.Is(err, context.Canceled) {
					t.Errorf("newClient: %v, want context.Canceled", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("newClient still connecting after 20s")
			}
		})
	}
}

package pipeline

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestRevokeFlushTimeout(t *testing.T) {
	def := sarama.NewConfig().Consumer.Group.Rebalance.Timeout
	for _, c := range []struct {
		shutdown, rebalance, want time.Duration
	}{
		{30 * time.Second, def, 30 * time.Second},
		{2 * time.Minute, def, def - 5*time.Second},
		{2 * time.Minute, 60 * time.Second, 55 * time.Second},
		{30 * time.Second, 6 * time.Second, 3 * time.Second},
		{time.Second, 6 * time.Second, time.Second},
		{30 * time.Second, 0, 30 * time.Second},
	} {
		if got := revokeFlushTimeout(c.shutdown, c.rebalance); got != c.want {
			t.Errorf("revokeFlushTimeout(%v, %v) = %v, want %v", c.shutdown, c.rebalance, got, c.want)
		}
	}
}

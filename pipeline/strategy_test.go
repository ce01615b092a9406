package pipeline

import (
	"slices"
	"testing"

	"github.com/IBM/sarama"
)

func TestBalanceStrategies(t *testing.T) {
	tests := []struct {
		spec  string
		names []string // sarama's names; nil: an error
	}{
		{"", []string{"range"}},
		{"range", []string{"range"}},
		{"roundrobin", []string{"roundrobin"}},
		{"round-robin", []string{"roundrobin"}},
		{"Sticky", []string{"sticky"}},
		{"cooperative-sticky", []string{"cooperative-sticky"}},
		{"cooperative-sticky, range", []string{"cooperative-sticky", "range"}},
		{"fastest", nil},
		{"range,range", nil},
		{"range,", nil},
	}
	for _, tt := range tests {
		got, err := balanceStrategies(tt.spec)
		if tt.names == nil {
			if err == nil {
				t.Errorf("%q: no error", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		var names []string
		for _, s := range got {
			names = append(names, s.Name())
		}
		if !slices.Equal(names, tt.names) {
			t.Errorf("%q: %v, want %v", tt.spec, names, tt.names)
		}
		// sarama accepts them with the pipeline's client configuration.
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V2_8_0_0
		cfg.Consumer.Group.Rebalance.GroupStrategies = got
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q: sarama: %v", tt.spec, err)
		}
	}
}

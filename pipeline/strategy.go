package pipeline

import (
	"fmt"
	"strings"

	"github.com/IBM/sarama"
)

// Strategies are the consumer group rebalance strategies a run can use,
// by the names of Kafka's Java assignors.
var Strategies = []string{"range", "roundrobin", "sticky", "cooperative-sticky"}

// DefaultStrategy is the rebalance strategy when none is given.
const DefaultStrategy = "range"

// balanceStrategy returns a new sarama strategy for name ("" is
// DefaultStrategy). "round-robin" is accepted for "roundrobin".
//
// range, roundrobin and sticky are eager: at a rebalance every member
// gives up all its partitions, then takes its new share. cooperative-sticky
// (KIP-429) moves only the partitions that change owner; the others keep
// being consumed through the rebalance. All members of a group must agree
// on a protocol: move a running group from an eager strategy to
// cooperative-sticky in two rolling restarts (see the README).
func balanceStrategy(name string) (sarama.BalanceStrategy, error) {
	switch strings.ToLower(name) {
	case "", "range":
		return sarama.NewBalanceStrategyRange(), nil
	case "roundrobin", "round-robin":
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case "sticky":
		return sarama.NewBalanceStrategySticky(), nil
	case "cooperative-sticky":
		// Stateful: one per consumer group.
		return sarama.NewBalanceStrategyCooperativeSticky(), nil
	}
	return nil, fmt.Errorf("rebalance strategy %q: want one of %s", name, strings.Join(Strategies, ", "))
}

// balanceStrategies returns the strategies of spec: one name, or a
// comma-separated list in order of preference. A group uses the first
// strategy every member offers, and the cooperative protocol only when
// every strategy listed supports it: a running group moves from range to
// cooperative-sticky with a rolling restart on "cooperative-sticky,range"
// (still eager, but agreeing on cooperative-sticky once all members offer
// it), then one on "cooperative-sticky".
func balanceStrategies(spec string) ([]sarama.BalanceStrategy, error) {
	var out []sarama.BalanceStrategy
	seen := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		s, err := balanceStrategy(name)
		if err != nil {
			return nil, err
		}
		if seen[s.Name()] {
			return nil, fmt.Errorf("rebalance strategy %q is listed twice", name)
		}
		seen[s.Name()] = true
		out = append(out, s)
	}
	return out, nil
}

// CheckStrategy reports whether spec names known rebalance strategies:
// one, or a comma-separated list in order of preference.
func CheckStrategy(spec string) error {
	_, err := balanceStrategies(spec)
	return err
}

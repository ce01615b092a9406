package plan

import (
	"slices"

	"github.com/feathrgo/feathr/config"
)

// The on_error policies of a source's records.

// DeadLetterTopic returns the materialization's dead-letter topic, or "".
func (m *Materialization) DeadLetterTopic() string {
	if m.OnError != config.DeadLetter {
		return ""
	}
	return m.Config.DeadLetter
}

// RecordPolicy is the policy for a record that fails before any target sees
// it (it cannot be decoded): the strictest of the source's materializations
// (stop, then dead-letter, then skip), with the dead-letter topics to send
// it to.
func (s *Source) RecordPolicy() (config.OnError, []string) {
	policy := config.Skip
	var topics []string
	for _, t := range s.Targets {
		m := t.Materialization
		if m.OnError == config.Stop {
			policy = config.Stop
		}
		if topic := m.DeadLetterTopic(); topic != "" {
			if policy == config.Skip {
				policy = config.DeadLetter
			}
			if !slices.Contains(topics, topic) {
				topics = append(topics, topic)
			}
		}
	}
	return policy, topics
}

// NeedsDeadLetter reports whether any materialization of s dead-letters.
func (s *Source) NeedsDeadLetter() bool {
	for _, t := range s.Targets {
		if t.Materialization.OnError == config.DeadLetter {
			return true
		}
	}
	return false
}

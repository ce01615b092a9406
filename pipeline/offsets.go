package pipeline

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
)

// commitStarts commits, at the start of a session, where each claimed
// partition that has no usable committed offset starts, before its claim
// is created (sarama creates the claims after Setup, from the offsets
// marked by then), so that the claim starts exactly there.
//
//   - No committed offset: the start (the newest offset, or the oldest with
//     start: earliest) is committed at once. Otherwise a partition that
//     gets no record in this session keeps no commit, and after a restart
//     or a rebalance start: latest would skip what was produced meanwhile.
//   - A committed offset out of the log's range (retention deleted records
//     before they were read, or the topic was recreated): logged as an
//     error with the number of records skipped and counted; the partition
//     starts where the source's start says, as sarama would have done
//     silently.
func (h *handler) commitStarts(sess sarama.ConsumerGroupSession, initial int64) error {
	claims := sess.Claims()
	if len(claims) == 0 {
		return nil
	}
	committed, err := committedOffsets(h.client, h.src.Config.Kafka.Group, claims)
	if err != nil {
		return err
	}
	marked := false
	for topic, parts := range claims {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			c, ok := committed[tp]
			oldest, err := h.client.GetOffset(topic, part, sarama.OffsetOldest)
			if err != nil {
				return fmt.Errorf("oldest offset of %s/%d: %w", topic, part, err)
			}
			newest, err := h.client.GetOffset(topic, part, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("newest offset of %s/%d: %w", topic, part, err)
			}
			start := newest
			if initial == sarama.OffsetOldest {
				start = oldest
			}
			switch {
			case ok && c >= oldest && c <= newest:
				continue // the claim resumes where the group left off
			case !ok:
				h.p.log.Info("partition has no committed offset: committing its start", "source", h.src.Config.Name, "topic", topic, "partition", part, "offset", start, "start", h.src.Config.Kafka.Start)
			default:
				// Records between the commit and the start are never read.
				skipped := start - c
				if c > newest {
					skipped = 0 // the log was truncated or recreated under the commit
				}
				h.src.offsetResets.Add(1)
				h.src.retentionSkipped.Add(max(skipped, 0))
				h.p.log.Error("committed offset is out of the partition's range (retention deleted records before they were read, or the topic was recreated); starting as start says",
					"source", h.src.Config.Name, "topic", topic, "partition", part, "committed", c, "oldest", oldest, "newest", newest,
					"start", h.src.Config.Kafka.Start, "offset", start, "records_skipped", max(skipped, 0))
			}
			if ok && start < c {
				sess.ResetOffset(topic, part, start, "")
			} else {
				sess.MarkOffset(topic, part, start, "")
			}
			marked = true
		}
	}
	if marked {
		sess.Commit()
	}
	return nil
}

// committedOffsets returns the offsets group committed for the partitions
// of claims; a partition without a commit is absent.
func committedOffsets(client sarama.Client, group string, claims map[string][]int32) (map[topicPartition]int64, error) {
	admin, err := sarama.NewClusterAdminFromClient(client) // not closed: that would close client
	if err != nil {
		return nil, err
	}
	resp, err := admin.ListConsumerGroupOffsets(group, claims)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return map[topicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the committed offsets of group %s: %w", group, err)
	}
	out := map[topicPartition]int64{}
	for topic, parts := range claims {
		for _, part := range parts {
			b := resp.GetBlock(topic, part)
			if b != nil && b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("reading the committed offset of group %s on %s/%d: %w", group, topic, part, b.Err)
			}
			if b != nil && b.Offset >= 0 {
				out[topicPartition{topic, part}] = b.Offset
			}
		}
	}
	return out, nil
}

// readableEnd returns the offset after the last record a consumer of
// isolation can read now: the last stable offset with read_committed
// (records of an open transaction come later), else the high watermark.
func readableEnd(client sarama.Client, topic string, partition int32, isolation config.Isolation) (int64, error) {
	if isolation == config.ReadUncommitted {
		return client.GetOffset(topic, partition, sarama.OffsetNewest)
	}
	broker, err := client.Leader(topic, partition)
	if err != nil {
		return -1, err
	}
	req := sarama.NewOffsetRequest(client.Config().Version)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(topic, partition, sarama.OffsetNewest, 1)
	resp, err := broker.GetAvailableOffsets(req)
	if err != nil {
		return -1, err
	}
	b := resp.GetBlock(topic, partition)
	switch {
	case b == nil:
		return -1, sarama.ErrIncompleteResponse
	case b.Err != sarama.ErrNoError:
		return -1, b.Err
	case b.Offset >= 0:
		return b.Offset, nil
	case len(b.Offsets) == 1:
		return b.Offsets[0], nil
	}
	return -1, sarama.ErrOffsetOutOfRange
}

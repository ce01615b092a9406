package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// Row is an update a dry run would have written.
type Row struct {
	Materialization string         `json:"materialization"`
	Key             string         `json:"key"`
	Features        map[string]any `json:"features"`
	EventTime       time.Time      `json:"event_time"`
	Topic           string         `json:"topic"`
	Partition       int32          `json:"partition"`
	Offset          int64          `json:"offset"`
}

// errDryRunDone ends a dry run that emitted its rows.
var errDryRunDone = errors.New("dry run: rows printed")

// DryRun consumes and evaluates like Run, but writes nothing to Redis,
// sends nothing to dead-letter topics, commits no offset, and joins no
// consumer group, so a running deployment of the same config is not
// disturbed. Each partition is read from the offset its source's group
// committed, else from the start position.
//
// emit is called, one call at a time, with each update; DryRun returns
// once it emitted rows of them (rows > 0), ctx is done, or UntilCaughtUp
// and every partition was read up to its high watermark at start. Bad
// records are counted and logged with the policy that would apply, and
// consumption goes on. Stats count as in Run, with Written the rows
// emitted.
func (p *Pipeline) DryRun(ctx context.Context, rows int, emit func(Row) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu      sync.Mutex
		emitted int
		wg      sync.WaitGroup
		pending sync.WaitGroup // partitions not caught up, until-caught-up only
	)
	out := func(r Row) {
		mu.Lock()
		defer mu.Unlock()
		if context.Cause(ctx) != nil {
			return
		}
		if err := emit(r); err != nil {
			cancel(fmt.Errorf("dry run: %w", err))
			return
		}
		emitted++
		p.written.Add(1)
		if rows > 0 && emitted >= rows {
			cancel(errDryRunDone)
		}
	}
	defer func() {
		// On an error return, partitions of sources before it are being
		// read: stop them first.
		cancel(nil)
		wg.Wait()
	}()
	for i, src := range p.opts.Plan.Sources {
		cfg, err := saramaConfig(src.Config, p.opts.Start, p.opts.CommitInterval)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		cfg.Consumer.Offsets.AutoCommit.Enable = false
		client, err := connect(ctx, src.Config, cfg, p.opts.StartTimeout)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		defer client.Close()
		consumer, err := sarama.NewConsumerFromClient(client)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		defer consumer.Close()
		starts, err := dryRunStarts(client, src, cfg.Consumer.Offsets.Initial)
		if err != nil {
			return fmt.Errorf("source %s: %w", src.Config.Name, err)
		}
		c := p.sources[i]
		// Rate-limited as in Run: while a broker is down, each partition
		// reports an error every retry.
		kafkaLog := newLimitedLogger(p.log, 5, 10*time.Second, "kafka errors not logged in the last period")
		for tp, off := range starts {
			pc, err := consumer.ConsumePartition(tp.topic, tp.partition, off)
			if errors.Is(err, sarama.ErrOffsetOutOfRange) {
				pc, err = consumer.ConsumePartition(tp.topic, tp.partition, cfg.Consumer.Offsets.Initial)
			}
			if err != nil {
				return fmt.Errorf("source %s: consuming %s/%d: %w", src.Config.Name, tp.topic, tp.partition, err)
			}
			target := int64(-1)
			if p.opts.UntilCaughtUp {
				target = pc.HighWaterMarkOffset()
				if hwm, err := client.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest); err == nil {
					target = hwm
				}
				start := off
				if start < 0 { // oldest or newest
					start, _ = client.GetOffset(tp.topic, tp.partition, off)
				}
				if start >= target {
					target = -1
				} else {
					pending.Add(1)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.dryRunPartition(ctx, c, src, pc, target, pending.Done, out, kafkaLog)
			}()
		}
	}
	if p.opts.UntilCaughtUp {
		go func() {
			pending.Wait()
			p.caughtUp.Store(true)
			cancel(errCaughtUp)
		}()
	}
	p.log.Info("dry run: reading without writing to Redis or committing offsets")
	<-ctx.Done()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errCaughtUp) &&
		!errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, errDryRunDone) {
		return cause
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// dryRunStarts returns where each partition of src's topics is read
// from: the offset the source's group committed, else initial.
func dryRunStarts(client sarama.Client, src *plan.Source, initial int64) (map[topicPartition]int64, error) {
	parts := map[string][]int32{}
	for _, topic := range src.Config.Kafka.Topics {
		ps, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		parts[topic] = ps
	}
	admin, err := sarama.NewClusterAdminFromClient(client) // not closed: that would close client
	if err != nil {
		return nil, err
	}
	resp, err := admin.ListConsumerGroupOffsets(src.Config.Kafka.Group, parts)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		resp, err = &sarama.OffsetFetchResponse{}, nil // no group: no offsets
	}
	if err != nil {
		return nil, fmt.Errorf("reading the committed offsets of group %s: %w", src.Config.Kafka.Group, err)
	}
	starts := map[topicPartition]int64{}
	for topic, ps := range parts {
		for _, part := range ps {
			off := initial
			if b := resp.GetBlock(topic, part); b != nil && b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("reading the committed offset of group %s on %s/%d: %w", src.Config.Kafka.Group, topic, part, b.Err)
			} else if b != nil && b.Offset >= 0 {
				off = b.Offset
			}
			starts[topicPartition{topic, part}] = off
		}
	}
	return starts, nil
}

// dryRunPartition evaluates one partition's records until ctx is done.
// With a target (>= 0), caught is called once the record before it was read.
// Kafka errors go to kafkaLog.
func (p *Pipeline) dryRunPartition(ctx context.Context, c *sourceCounters, src *plan.Source, pc sarama.PartitionConsumer, target int64, caught func(), out func(Row), kafkaLog *limitedLogger) {
	defer pc.AsyncClose()
	var updates []sink.Update
	for {
		var msg *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return
		case err, ok := <-pc.Errors():
			if ok {
				kafkaLog.log("kafka", "source", src.Config.Name, "err", err)
			}
			continue
		case m, ok := <-pc.Messages():
			if !ok {
				return
			}
			msg = m
		}
		updates = p.dryRunRecord(c, src, msg, updates[:0], out)
		if target >= 0 && msg.Offset+1 >= target {
			target = -1
			caught()
		}
	}
}

func (p *Pipeline) dryRunRecord(c *sourceCounters, src *plan.Source, msg *sarama.ConsumerMessage, updates []sink.Update, out func(Row)) []sink.Update {
	p.read.Add(1)
	c.read.Add(1)
	bad := func(rerr *RecordError, policy config.OnError) {
		p.errs.Add(1)
		p.errLog.log("bad record (dry run: on_error: "+policy.String()+" would apply)", "topic", rerr.Topic, "partition", rerr.Partition, "offset", rerr.Offset, "err", rerr.Err)
	}
	rec, err := src.Decoder.Decode(msg.Value)
	if err != nil {
		c.decodeErrs.Add(1)
		policy, _ := src.RecordPolicy()
		bad(&RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Err: fmt.Errorf("decode: %w", err)}, policy)
		return updates
	}
	updates, terrs := src.Process(rec, msg.Timestamp, updates)
	for _, te := range terrs {
		if tc := c.targetOf(te.Target); tc != nil && te.Feature == "" {
			tc.keyErrs.Add(1)
		} else if tc != nil {
			tc.fnErrs.Add(1)
		}
		bad(&RecordError{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
			Materialization: te.Target.Materialization.Config.Name, Err: te}, te.Target.Materialization.OnError)
	}
	for _, u := range updates {
		r := Row{Key: u.Key, Features: make(map[string]any, len(u.Fields)), EventTime: time.UnixMilli(u.EventTime).UTC(),
			Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset}
		if tc := c.target(u.Table); tc != nil {
			r.Materialization = tc.name
		}
		for _, f := range u.Fields {
			v, err := sink.DecodeValue(f.Value)
			if err != nil {
				v = fmt.Sprintf("<%v>", err)
			}
			r.Features[f.Name] = v
		}
		out(r)
	}
	return updates
}

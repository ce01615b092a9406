package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/sink"
)

// Row is an update a dry run would have written.
type Row struct {
	Materialization string         `json:"materialization"`
	Key             string         `json:"key"`
	Features        map[string]any `json:"features"`
	// Aggregates are the event's inputs to the aggregated features it is
	// a row of: a number, a vector, LATEST's value, COUNT_DISTINCT's hash
	// in hex, or null (counted by COUNT only); absent when there are none.
	Aggregates map[string]any `json:"aggregates,omitempty"`
	EventTime  time.Time      `json:"event_time"`
	Topic      string         `json:"topic"`
	Partition  int32          `json:"partition"`
	Offset     int64          `json:"offset"`
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
	p.stop, p.dryRun = cancel, true
	out := &printer{emit: emit, rows: rows, stop: cancel}
	var wg sync.WaitGroup
	defer func() {
		// On an error return, partitions of sources before it are being
		// read: stop them first.
		cancel(nil)
		wg.Wait()
	}()
	for _, src := range p.sources {
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
		claims := map[string][]int32{}
		for tp := range starts {
			claims[tp.topic] = append(claims[tp.topic], tp.partition)
		}
		p.assigned(src, claims)
		kafkaLog := newKafkaLogger(p.log)
		for tp, off := range starts {
			pc, err := consumer.ConsumePartition(tp.topic, tp.partition, off)
			if errors.Is(err, sarama.ErrOffsetOutOfRange) {
				off = cfg.Consumer.Offsets.Initial
				pc, err = consumer.ConsumePartition(tp.topic, tp.partition, off)
			}
			if err != nil {
				return fmt.Errorf("source %s: consuming %s/%d: %w", src.Config.Name, tp.topic, tp.partition, err)
			}
			pt := p.newPartition(src, client, nil, noMarks{}, tp.topic, tp.partition, pc.HighWaterMarkOffset)
			pt.source(pc.Messages(), pc)
			pt.writer = &rowWriter{printer: out, src: src, topic: tp.topic, partition: tp.partition}
			hwm := pc.HighWaterMarkOffset()
			if n, err := client.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest); err == nil {
				hwm = n
			}
			p.partitionStarted(pt)
			p.watchCatchUp(pt, client, off, hwm)
			wg.Go(func() {
				defer p.partitionEnded(pt)
				p.dryRunPartition(ctx, pt, pc, kafkaLog)
			})
		}
	}
	p.log.Info("dry run: reading without writing to Redis or committing offsets")
	<-ctx.Done()
	return p.end(ctx)
}

// dryRunStarts returns where each partition of src's topics is read
// from: the offset the source's group committed, else initial.
func dryRunStarts(client sarama.Client, src *source, initial int64) (map[topicPartition]int64, error) {
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

// dryRunPartition reads one partition's messages until ctx is done.
// Kafka errors go to kafkaLog.
func (p *Pipeline) dryRunPartition(ctx context.Context, pt *partition, pc sarama.PartitionConsumer, kafkaLog *limitedLogger) {
	defer pc.AsyncClose()
	idle := pt.idleTicker()
	defer idle.Stop()
	for {
		select {
		case <-idle.C:
			pt.checkIdle()
		case <-ctx.Done():
			return
		case err, ok := <-pc.Errors():
			if ok {
				kafkaLog.log("kafka", "source", pt.src.Config.Name, "err", err)
			}
		case msg, ok := <-pc.Messages():
			if !ok {
				return
			}
			pt.handle(ctx, msg)
			pt.pace() // a dry run's partition never waits long: pace it here
		}
	}
}

// printer emits a dry run's rows, one call at a time, and ends the run
// once it emitted rows of them (rows > 0) or emitting failed.
type printer struct {
	emit func(Row) error
	rows int
	stop context.CancelCauseFunc

	mu      sync.Mutex
	emitted int
	done    bool
}

// rowWriter is the Writer of a dry run's partition: it prints each update
// as a row and acknowledges it at once.
type rowWriter struct {
	*printer
	src       *source
	topic     string
	partition int32
}

// Submit prints u; after the last row it returns context.Canceled, as a
// writer does when the run ends.
func (w *rowWriter) Submit(ctx context.Context, u sink.Update) error {
	r := Row{Key: u.Key, Features: make(map[string]any, len(u.Fields)), EventTime: time.UnixMilli(u.EventTime).UTC(),
		Topic: w.topic, Partition: w.partition, Offset: u.Seq}
	if t := w.src.targetOf(u.Table); t != nil {
		r.Materialization = t.name
	}
	for _, f := range u.Fields {
		v, err := sink.DecodeValue(f.Value)
		if err != nil {
			v = fmt.Sprintf("<%v>", err)
		}
		r.Features[f.Name] = v
	}
	if u.Agg != nil {
		r.Aggregates = aggInputs(u.Table, u.Agg)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || ctx.Err() != nil {
		return context.Canceled
	}
	if err := w.emit(r); err != nil {
		w.done = true
		w.stop(fmt.Errorf("dry run: %w", err))
		return context.Canceled
	}
	w.emitted++
	if w.rows > 0 && w.emitted >= w.rows {
		w.done = true
		w.stop(errDryRunDone)
	}
	if u.Acker != nil {
		u.Acker.Ack(u.Seq)
	}
	return nil
}

// Flush has nothing to wait for: every row is printed when submitted.
func (w *rowWriter) Flush(context.Context) error { return nil }

// Failed is never closed: a failed emit ends the run itself.
func (w *rowWriter) Failed() <-chan struct{} { return nil }

// Err is nil: see Failed.
func (w *rowWriter) Err() error { return nil }

// Stats are zero: nothing is written.
func (w *rowWriter) Stats() sink.WriterStats { return sink.WriterStats{} }

// Package metrics exposes a materialize run to Prometheus: the counters
// of its sources and materializations, its consumer lag, its Redis
// writer, its produce-to-store freshness, and health endpoints.
//
// The pipeline and the writer keep their own counters; a scrape reads
// them, so nothing here is on a record's path but ObserveBatch (one per
// Redis batch).
//
// metrics imports pipeline, sink and internal/hist, whose counters and
// histogram it reads, besides the Prometheus client; only cmd imports it.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/feathrgo/feathr/internal/hist"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/sink"
)

// Run is what a scrape reads from a materialize run.
type Run interface {
	SourceStats() []pipeline.SourceStats
	Partitions() []pipeline.PartitionStats
	// Freshness is the run's produce-to-store freshness.
	Freshness() *hist.Histogram
	// FreshnessSplit divides it, for a sample of the records, where their
	// updates were handed to the writer.
	FreshnessSplit() (toWriter, inWriter *hist.Histogram)
}

// WriterStats reads the counters of a Redis writer.
type WriterStats interface {
	Stats() sink.WriterStats
}

// Metrics are the metrics of one materialize run in their own registry.
type Metrics struct {
	reg       *prometheus.Registry
	batchSize prometheus.Histogram
	roundTrip prometheus.Histogram
}

// FreshnessBuckets are the upper bounds, in seconds, of the Prometheus
// buckets of feathr_freshness_seconds.
var FreshnessBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// New returns the metrics of a run, with the Go runtime's and the
// process's own. version is reported by feathr_build_info.
func New(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "feathr_redis_batch_updates",
			Help:    "Updates per pipelined Redis batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 15), // 1 … 16384
		}),
		roundTrip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "feathr_redis_roundtrip_seconds",
			Help:    "Round trip of a successful pipelined Redis batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17), // 100µs … 6.5s
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.batchSize, m.roundTrip,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "feathr_build_info",
			Help:        "Always 1; the version label is feathr's version.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	return m
}

// Registry returns the registry the metrics are in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveBatch records a written Redis batch; it is a
// sink.WriterOptions.OnBatch.
func (m *Metrics) ObserveBatch(b sink.BatchInfo) {
	m.batchSize.Observe(float64(b.Updates))
	m.roundTrip.Observe(b.RoundTrip.Seconds())
}

// Watch registers the counters of run and w, read at each scrape.
func (m *Metrics) Watch(run Run, w WriterStats) {
	toWriter, inWriter := run.FreshnessSplit()
	m.reg.MustRegister(&runCollector{run: run}, &writerCollector{w: w}, &freshnessCollector{all: run.Freshness(), toWriter: toWriter, inWriter: inWriter})
}

var (
	recordsRead = prometheus.NewDesc("feathr_records_read_total",
		"Records consumed from Kafka, by source and by each materialization the source feeds.",
		[]string{"source", "materialization"}, nil)
	recordsWritten = prometheus.NewDesc("feathr_records_written_total",
		"Records whose update of the materialization Redis acknowledged.",
		[]string{"source", "materialization"}, nil)
	recordsSkipped = prometheus.NewDesc("feathr_records_skipped_total",
		"Bad records skipped (on_error: skip).",
		[]string{"source", "materialization"}, nil)
	recordsDead = prometheus.NewDesc("feathr_records_dead_lettered_total",
		"Bad records sent to the dead-letter topic (on_error: dead_letter).",
		[]string{"source", "materialization"}, nil)
	recordErrors = prometheus.NewDesc("feathr_record_errors_total",
		"Bad records by kind: decode (the event could not be decoded), event_time (its event time is further ahead of the clock than max_future_skew), key (the entity key could not be built), feature (a feature failed to evaluate or convert).",
		[]string{"source", "materialization", "kind"}, nil)
	registryRetries = prometheus.NewDesc("feathr_registry_retries_total",
		"Decodes repeated because the schema registry was unavailable (the record waited; it was not skipped).",
		[]string{"source"}, nil)
	offsetResets = prometheus.NewDesc("feathr_offset_resets_total",
		"Partitions whose committed offset was out of the log's range at assignment (retention deleted records before they were read, or the topic was recreated).",
		[]string{"source"}, nil)
	retentionSkipped = prometheus.NewDesc("feathr_records_skipped_out_of_range_total",
		"Records between an out-of-range committed offset and where the partition started instead: never read.",
		[]string{"source"}, nil)
	rebalances = prometheus.NewDesc("feathr_rebalances_total",
		"Consumer group assignments this process received (the first join counts).",
		[]string{"source"}, nil)
	lag = prometheus.NewDesc("feathr_consumer_lag",
		"Records of a partition not consumed yet: its high watermark minus the position, for the partitions this process holds.",
		[]string{"source", "topic", "partition"}, nil)
	assigned = prometheus.NewDesc("feathr_partitions_assigned",
		"Partitions this process consumes now.",
		[]string{"source"}, nil)
	redisBatches = prometheus.NewDesc("feathr_redis_batches_total",
		"Pipelined Redis batches written.", nil, nil)
	redisCommands = prometheus.NewDesc("feathr_redis_commands_total",
		"Commands in the written batches.", nil, nil)
	redisUpdates = prometheus.NewDesc("feathr_redis_updates_total",
		"Updates acknowledged by Redis.", nil, nil)
	redisStale = prometheus.NewDesc("feathr_redis_stale_updates_total",
		"Updates not written because the key held newer events for all their features.", nil, nil)
	redisDropped = prometheus.NewDesc("feathr_redis_dropped_updates_total",
		"Updates not written, nor acknowledged, because their partition was revoked first.", nil, nil)
	redisQueued = prometheus.NewDesc("feathr_redis_queued_bytes",
		"Bytes of the keys and values of the updates the writer holds, submitted and not yet acknowledged.", nil, nil)
	redisRetries = prometheus.NewDesc("feathr_redis_write_retries_total",
		"Batch attempts repeated after a failure.", nil, nil)
	redisErrors = prometheus.NewDesc("feathr_redis_write_errors_total",
		"Failed batch attempts.", nil, nil)
	lateDropped = prometheus.NewDesc("feathr_late_events_dropped_total",
		"Events older than an aggregated feature's window and allowed lateness by the wall clock: not aggregated.",
		[]string{"source", "materialization"}, nil)
	aggEvents = prometheus.NewDesc("feathr_agg_events_total",
		"Aggregate events by what the aggregation script did: applied, duplicate (applied before: skipped), rejected (a vector of another length), late (rows late when the script ran).",
		[]string{"result"}, nil)
	freshness = prometheus.NewDesc("feathr_freshness_seconds",
		"Time from a record's Kafka timestamp to Redis acknowledging its last update, per record written.", nil, nil)
	freshnessPart = prometheus.NewDesc("feathr_freshness_part_seconds",
		"For every 64th written record of each partition, its freshness split where its updates were handed to the writer: to_writer (fetch wait, sarama, decode, transforms), in_writer (batch, writes in flight, Redis).",
		[]string{"part"}, nil)
)

// runCollector reads a run's counters at scrape time.
type runCollector struct{ run Run }

func (c *runCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{recordsRead, recordsWritten, recordsSkipped, recordsDead, recordErrors, registryRetries, offsetResets, retentionSkipped, rebalances, lag, assigned, lateDropped} {
		ch <- d
	}
}

func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	held := map[string]int{}
	for _, s := range c.run.SourceStats() {
		counter(rebalances, s.Rebalances, s.Source)
		counter(registryRetries, s.RegistryRetries, s.Source)
		counter(offsetResets, s.OffsetResets, s.Source)
		counter(retentionSkipped, s.RetentionSkipped, s.Source)
		held[s.Source] = 0
		for _, m := range s.Materializations {
			counter(recordsRead, s.Read, s.Source, m.Materialization)
			counter(recordsWritten, m.Written, s.Source, m.Materialization)
			counter(recordsSkipped, m.Skipped, s.Source, m.Materialization)
			counter(recordsDead, m.DeadLettered, s.Source, m.Materialization)
			counter(recordErrors, s.DecodeErrors, s.Source, m.Materialization, "decode")
			counter(recordErrors, s.EventTimeErrors, s.Source, m.Materialization, "event_time")
			counter(recordErrors, m.KeyErrors, s.Source, m.Materialization, "key")
			counter(recordErrors, m.FeatureErrors, s.Source, m.Materialization, "feature")
			counter(lateDropped, m.LateDropped, s.Source, m.Materialization)
		}
	}
	for _, p := range c.run.Partitions() {
		held[p.Source]++
		ch <- prometheus.MustNewConstMetric(lag, prometheus.GaugeValue, float64(p.Lag), p.Source, p.Topic, strconv.Itoa(int(p.Partition)))
	}
	for src, n := range held {
		ch <- prometheus.MustNewConstMetric(assigned, prometheus.GaugeValue, float64(n), src)
	}
}

// writerCollector reads a Redis writer's counters at scrape time.
type writerCollector struct{ w WriterStats }

func (c *writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisBatches, redisCommands, redisUpdates, redisStale, redisDropped, redisRetries, redisErrors, redisQueued, aggEvents} {
		ch <- d
	}
}

func (c *writerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.w.Stats()
	for _, v := range []struct {
		d *prometheus.Desc
		n int64
	}{{redisBatches, s.Batches}, {redisCommands, s.Commands}, {redisUpdates, s.Updates}, {redisStale, s.Stale}, {redisDropped, s.Dropped}, {redisRetries, s.Retries}, {redisErrors, s.Errors}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
	ch <- prometheus.MustNewConstMetric(redisQueued, prometheus.GaugeValue, float64(s.QueuedBytes))
	for _, v := range []struct {
		result string
		n      int64
	}{{"applied", s.AggApplied}, {"duplicate", s.AggDuplicates}, {"rejected", s.AggRejected}, {"late", s.AggLate}} {
		ch <- prometheus.MustNewConstMetric(aggEvents, prometheus.CounterValue, float64(v.n), v.result)
	}
}

// freshnessCollector exposes the freshness Histograms in FreshnessBuckets:
// all of it, and its two parts.
type freshnessCollector struct{ all, toWriter, inWriter *hist.Histogram }

func (c *freshnessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- freshness
	ch <- freshnessPart
}

func (c *freshnessCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- constHistogram(freshness, c.all)
	ch <- constHistogram(freshnessPart, c.toWriter, "to_writer")
	ch <- constHistogram(freshnessPart, c.inWriter, "in_writer")
}

// constHistogram is h, in FreshnessBuckets, as a metric of desc.
func constHistogram(desc *prometheus.Desc, h *hist.Histogram, labels ...string) prometheus.Metric {
	n := h.Count()
	buckets := h.Cumulative(FreshnessBuckets)
	for ub, v := range buckets {
		buckets[ub] = min(v, n) // a concurrent Observe may land between the reads
	}
	return prometheus.MustNewConstHistogram(desc, n, h.Sum().Seconds(), buckets, labels...)
}

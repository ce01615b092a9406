package pipeline

import (
	"strconv"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
)

// Headers set on a dead-lettered message, beside the original's own.
const (
	HeaderError           = "feathr.error"
	HeaderTopic           = "feathr.topic"
	HeaderPartition       = "feathr.partition"
	HeaderOffset          = "feathr.offset"
	HeaderMaterialization = "feathr.materialization"
)

// deadLetterOverhead is room in a produce request for what is not the
// record: the request's headers, the record batch's and the feathr.*
// headers of a dead letter (whose error text is bounded).
const deadLetterOverhead = 64 << 10

// deadLetter produces bad records, unchanged, to a dead-letter topic and
// waits for the broker's acknowledgement before the offset moves on.
type deadLetter struct {
	producer sarama.SyncProducer
}

func newDeadLetter(src *config.Source, cfg *sarama.Config) (*deadLetter, error) {
	pcfg := *cfg
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Return.Errors = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Idempotent = false
	// A dead letter is any record the consumer fetched, however large (a
	// record over max_record_bytes is itself a bad record): the producer
	// takes what a request can carry, and the broker's limit for the
	// dead-letter topic (max.message.bytes) is the only one.
	pcfg.Producer.MaxMessageBytes = int(sarama.MaxRequestSize) - deadLetterOverhead
	p, err := sarama.NewSyncProducer(src.Kafka.Brokers, &pcfg)
	if err != nil {
		return nil, err
	}
	return &deadLetter{producer: p}, nil
}

func (d *deadLetter) send(msg *sarama.ConsumerMessage, topic string, rerr *RecordError) error {
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers)+5)
	for _, h := range msg.Headers {
		if h != nil {
			headers = append(headers, *h)
		}
	}
	headers = append(headers,
		sarama.RecordHeader{Key: []byte(HeaderError), Value: []byte(rerr.Err.Error())},
		sarama.RecordHeader{Key: []byte(HeaderTopic), Value: []byte(msg.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderPartition), Value: strconv.AppendInt(nil, int64(msg.Partition), 10)},
		sarama.RecordHeader{Key: []byte(HeaderOffset), Value: strconv.AppendInt(nil, msg.Offset, 10)},
	)
	if rerr.Materialization != "" {
		headers = append(headers, sarama.RecordHeader{Key: []byte(HeaderMaterialization), Value: []byte(rerr.Materialization)})
	}
	out := &sarama.ProducerMessage{Topic: topic, Headers: headers, Timestamp: msg.Timestamp}
	if msg.Key != nil {
		out.Key = sarama.ByteEncoder(msg.Key)
	}
	if msg.Value != nil {
		out.Value = sarama.ByteEncoder(msg.Value)
	}
	_, _, err := d.producer.SendMessage(out)
	return err
}

func (d *deadLetter) Close() error { return d.producer.Close() }

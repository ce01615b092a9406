// Package e2e is feathr's end-to-end suite against real servers and real
// peer clients that feathr did not write.
//
// The tests run the feathr binary as a user would (os/exec), against a
// private redis-server and the real Apache Kafka broker named by
// FEATHR_KAFKA_BROKERS (scripts/kafka.sh start); they skip without one
// unless FEATHR_REQUIRE_KAFKA=1, which makes them fail instead. The binary
// is $FEATHR_BIN, or one built once for the run.
//
// The peers, installed by scripts/peers.sh install, are kcat (librdkafka)
// and Debian's /usr/bin/python3 with confluent_kafka, fastavro or avro,
// redis and protobuf, driven by the scripts in testdata/: produce.py writes
// events as Feathr's own test producer does, and read_features.py reads the
// features back as Feathr's Python client does.
//
// The window aggregation tests (aggregations_test.go) take their workload
// and its brute-force reference from internal/aggtest.
//
// The tests import internal/testenv (the servers), internal/aggtest and
// sink (its value codec, to read what Redis holds), and no other feathr
// package: feathr itself is run only as a binary.
package e2e

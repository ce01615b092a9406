// Package testenv starts the real servers that tests talk to: a private
// redis-server, an in-process Kafka-protocol broker (kfake), and the real
// Apache Kafka broker started by scripts/kafka.sh. Every suite starts them
// the same way, and each is stopped when its test ends.
//
// testenv imports no feathr package, only the clients it checks the
// servers with (Sarama, redigo) and kfake; only tests import it.
package testenv

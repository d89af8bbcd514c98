# frozen_string_literal: true

# Round trip of Client#request to one idle responder (issue #18: target p50 <= 10 ms and p99 <=
# 50 ms on real Kafka), beside the one-way produce -> handle latency of a plain message on the
# same broker, measured in the same run. A request is two such legs: the request record to the
# responder, and its answer back on the reply topic.
#
#   ruby -Ilib bench/request_round_trip.rb [--real] [--count N]
#
# Sequential requests (one in flight), after a warm-up; prints p50, p90, p99 and max in ms.
# Needs no bench build of the extension.

require "prosody"
require_relative "support/setup"

REAL = ARGV.delete("--real")
COUNT = Integer(BenchSetup.option("--count") || 500)
BROKER = BenchSetup.broker(REAL)
RUN = "request-bench-#{Process.pid}".freeze

Prosody.logger = Logger.new($stderr, level: Logger::WARN)

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def percentile(sorted, share) = sorted[[(sorted.size * share).ceil - 1, 0].max] * 1000

def report(name, samples)
  sorted = samples.sort
  figures = { p50: 0.5, p90: 0.9, p99: 0.99, max: 1.0 }.map do |label, share|
    format("%<label>s %<ms>.2f ms", label:, ms: percentile(sorted, share))
  end
  puts "  #{name.ljust(28)} #{figures.join("  ")}  (#{sorted.size})"
end

# Answers every request at once.
class Idle
  def on_message(_context, _message) = { "ok" => true }
  def on_timer(_context, _timer); end
end

# Hands each message's send time back to the benchmark.
class Stamp
  def initialize(seen) = @seen = seen
  def on_message(_context, message) = @seen << (now - message.payload["at"])
  def on_timer(_context, _timer); end
end

admin = Prosody::Admin.new(**BROKER.except(:probe_port, :cassandra_nodes, :idempotence_cache_size))
topics = %W[#{RUN}-requests #{RUN}-plain]
topics.each { |topic| admin.create_topic(topic, partitions: 1, replication: 1) }
clients = []
begin
  responder = Prosody::Client.new(**BROKER, group_id: "#{RUN}-responder", subsystem: "bench",
                                            subscribed_topics: topics[0])
  seen = Queue.new
  plain = Prosody::Client.new(**BROKER, group_id: "#{RUN}-plain", subscribed_topics: topics[1])
  requester = Prosody::Client.new(**BROKER)
  clients.push(responder, plain, requester)
  responder.subscribe(Idle.new)
  plain.subscribe(Stamp.new(seen))

  ask = lambda { |key|
    requester.request(topic: topics[0], key:, payload: {}, subsystems: ["bench"], timeout: 30)
  }
  ask.call("warm-up")
  requester.send_message(topics[1], "warm-up", { "at" => now })
  seen.pop
  round_trips = Array.new(COUNT) do |n|
    started = now
    outcome = ask.call("key-#{n % 16}")["bench"]
    raise "no answer: #{outcome.inspect}" unless outcome.success?

    now - started
  end
  one_way = Array.new(COUNT) do |n|
    requester.send_message(topics[1], "key-#{n % 16}", { "at" => now })
    seen.pop
  end
  puts "#{REAL ? "real Kafka" : "mock cluster"}, #{COUNT} each, one at a time:"
  report("request round trip", round_trips)
  report("produce -> handle (one way)", one_way)
ensure
  clients.each(&:close)
  topics.each { |topic| admin.delete_topic(topic) }
end

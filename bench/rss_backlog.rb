# frozen_string_literal: true

# Resident memory while a Ruby handler works through a large backlog at default settings (issue
# #15, M1): memory should follow `max_uncommitted`, not the size of the backlog.
#
# Produces COUNT messages (1,000,000 by default), then consumes them with a handler that sleeps
# `--sleep` ms per message, sampling the process's RSS once a second until the backlog is done
# or `--seconds` (300 by default) have passed. Prints the samples and a summary.
#
#   PROSODY_CARGO_FEATURES=bench rake compile
#   ruby -Ilib bench/rss_backlog.rb [--real] [--sleep MS] [--seconds S] [count]
#
# On the mock cluster the topic has 64 partitions, which keeps each under the mock's 5 MiB
# retention; with --real it has 8, on PROSODY_BOOTSTRAP_SERVERS (or 127.0.0.1:9092), with
# deduplication off (see BenchSetup.broker).

require "prosody"
require_relative "support/setup"

BenchSetup.require_bench_build("bench/rss_backlog.rb")

REAL = ARGV.delete("--real")
SLEEP = Float(BenchSetup.option("--sleep") || 1) / 1000
SECONDS = Float(BenchSetup.option("--seconds") || 300)
COUNT = Integer(ARGV.fetch(0, 1_000_000))
TOPIC = "rss-backlog-#{Process.pid}".freeze
BROKER = BenchSetup.broker(REAL)

Prosody.logger = Logger.new($stderr, level: Logger::WARN)

def rss_mib = File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i / 1024.0

# Sleeps per message, as a handler waiting on a database would, and counts.
class SlowHandler
  attr_reader :handled

  def initialize = @handled = 0

  def on_message(_context, _message)
    sleep SLEEP
    @handled += 1
  end

  def on_timer(_context, _timer); end
end

options = Prosody::Configuration.new(BROKER.merge(source_system: "bench")).to_native
seconds = Prosody::Native::Bench.produce(options, TOPIC, REAL ? 8 : 64, COUNT, 10_000)
puts format("produced %<n>d messages in %<s>.1f s; RSS %<rss>.0f MiB before subscribing",
            n: COUNT, s: seconds, rss: rss_mib)

handler = SlowHandler.new
client = Prosody::Client.new(**BROKER, group_id: "rss-#{Process.pid}", subscribed_topics: TOPIC)
puts "defaults: max_uncommitted #{client.configuration[:max_uncommitted]}, max_concurrency " \
     "#{client.configuration[:max_concurrency]}; handler sleeps #{(SLEEP * 1000).round(1)} ms"
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
client.subscribe(handler)
samples = []
loop do
  sleep 1
  elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  samples << [elapsed, handler.handled, rss_mib]
  puts format("%<t>6.0f s %<n>9d handled %<rss>7.0f MiB", t: elapsed, n: handler.handled,
                                                          rss: samples.last.last)
  break if handler.handled >= COUNT || elapsed >= SECONDS
end
client.unsubscribe

rss = samples.map(&:last)
early = rss.first([rss.size / 4, 1].max).max
late = rss.last([rss.size / 2, 1].max).max
elapsed = samples.last.first
rate = handler.handled / elapsed
puts format("handled %<n>d of %<count>d in %<t>.0f s (%<rate>.0f msg/s)",
            n: handler.handled, count: COUNT, t: elapsed, rate:)
puts format("RSS peak %<peak>.0f MiB; max of the first quarter %<early>.0f MiB, of the second " \
            "half %<late>.0f MiB (%<growth>+.0f MiB)",
            peak: rss.max, early:, late:, growth: late - early)

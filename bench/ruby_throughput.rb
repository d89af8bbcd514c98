# frozen_string_literal: true

# Ruby handler throughput against the engine's own, on one mock broker in one process.
#
# (a) the engine with a Rust no-op handler; (b) a Ruby handler that reads message.payload;
# (c) a Ruby handler that touches nothing. Each consumes the same 200k messages on 8 partitions
# in its own consumer group. Prints msg/s and, for (b) and (c), allocations per event.
#
# The producer and the Rust baseline come from Prosody::Native::Bench, which only an extension
# built with the `bench` Cargo feature has (no gem build enables it). Run with:
#
#   PROSODY_CARGO_FEATURES=bench rake compile
#   ruby -Ilib bench/ruby_throughput.rb [--real [--dedup]] [--rounds N] [--qos] [--qos-rounds N]
#                                       [--tracing] [--state] [count]
#
# With --real it runs on the Kafka of PROSODY_BOOTSTRAP_SERVERS (or 127.0.0.1:9092) instead,
# with deduplication off (see BenchSetup.broker); --dedup leaves it on, in Cassandra, where
# every payload's unique `id` then costs a read and a write (issue #15's D1).
#
# It ends with issue #15's targets: (R1) (b) against the plain Ruby-over-FFI librdkafka loop in
# ../shared/bench/ruby_ffi_consumer.rb, run in a child process on the same data shape (it says
# so when that file or ruby-ffi is missing); (R2) (b) at default settings against (b) tuned;
# (R3) allocations per event. --rounds N (1 by default) repeats (b) tuned, the yardstick and (b)
# at defaults N times, one after the other, and prints min, median and max.
#
# With --qos it then runs every case again without the quality-of-service layers (fair
# scheduling, hot keys, deferral; see prosody_engine::qos::baseline) and prints the ratios.
# With --qos-rounds N it runs N more A B B A rounds of (b) and (c) alone, with and without
# those layers, and prints each round's ratios and their medians: a burst of load elsewhere on
# the machine spoils a round or two, which a median shrugs off and a mean does not.
# With --tracing it does the same without the Ruby side of tracing: the per-message trace scope
# that carries a message's trace context and baggage to the handler's sends. (The engine's side,
# spans with no exporter, is measured by `throughput` in bench/engine.)
#
# With --state it compares (c) on a client that registers a keyed-state collection its handler
# never uses against (c) on one that registers none, and adds a Ruby handler that increments a
# keyed value per event (the mock's in-memory store), to show what the feature costs.
#
# Run plain `rake compile` afterwards to go back to the extension the gem ships.
#
# With PROSODY_BENCH_ACTIVE_SUPPORT=1 it loads ActiveSupport::Notifications first, with no
# subscriber, to measure what Prosody's instrumentation costs when nobody listens.

require "active_support/notifications" if ENV["PROSODY_BENCH_ACTIVE_SUPPORT"] == "1"
require "prosody"
require_relative "support/setup"

BenchSetup.require_bench_build("bench/ruby_throughput.rb")

REAL = ARGV.delete("--real")
DEDUP = ARGV.delete("--dedup")
COMPARE_QOS = ARGV.delete("--qos")
COMPARE_TRACING = ARGV.delete("--tracing")
COMPARE_STATE = ARGV.delete("--state")
QOS_ROUNDS = Integer(BenchSetup.option("--qos-rounds") || 0)
TARGET_ROUNDS = Integer(BenchSetup.option("--rounds") || 1)
PARTITIONS = 8
KEYS = 1000
COUNTER = Prosody.value("bench_counter")
COUNT = Integer(ARGV.fetch(0, 200_000))
TOPIC = "bench-#{Process.pid}".freeze
TUNED = { max_uncommitted: 20_000, max_concurrency: 256 }.freeze
BASE = BenchSetup.broker(REAL, dedup: DEDUP)
BOOTSTRAP = BASE[:bootstrap_servers]

Prosody.logger = Logger.new($stderr, level: Logger::WARN)

# Counts handled events and records when the first and the last arrived.
class CountingHandler
  attr_reader :first, :last

  def initialize(count, read_payload:, increment: false)
    @count = count
    @read_payload = read_payload
    @increment = increment
    @handled = 0
    @done = Queue.new
  end

  def on_message(context, message)
    message.payload if @read_payload
    increment(context.state(COUNTER)) if @increment
    @first ||= Process.clock_gettime(Process::CLOCK_MONOTONIC)
    @handled += 1
    return unless @handled == @count

    @last = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    @done << true
  end

  def on_timer(_context, _timer); end

  def wait = @done.pop

  private

  def increment(counter) = counter.set((counter.get || 0) + 1)
end

def native_options(**options)
  Prosody::Configuration.new(BASE.merge(options)).to_native
end

def ruby_run(label, read_payload:, collections: [], increment: false, tuned: true)
  handler = CountingHandler.new(COUNT, read_payload:, increment:)
  client = Prosody::Client.new(**BASE, **(tuned ? TUNED : {}), group_id: "#{label}-#{Process.pid}",
                                                               subscribed_topics: TOPIC,
                                                               state_collections: collections)
  allocated = GC.stat(:total_allocated_objects)
  client.subscribe(handler)
  handler.wait
  allocated = GC.stat(:total_allocated_objects) - allocated
  client.unsubscribe
  [COUNT / (handler.last - handler.first), allocated.to_f / COUNT]
end

seconds = Prosody::Native::Bench.produce(native_options(source_system: "bench"), TOPIC, PARTITIONS,
                                         COUNT, KEYS)
puts(if REAL
       "Kafka at #{BOOTSTRAP}, deduplication #{DEDUP ? "in Cassandra" : "off"}"
     else
       "mock cluster, deduplication in memory"
     end)
puts "ActiveSupport::Notifications #{defined?(ActiveSupport::Notifications) ? "loaded" : "absent"}"
puts format("produced %<n>d messages in %<s>.2f s (%<r>.0f msg/s)", n: COUNT, s: seconds,
                                                                    r: COUNT / seconds)

# Each case once, as the gem runs it; with `qos_baseline`, without the quality-of-service layers.
def cases(suffix, qos_baseline:)
  Prosody::Native::Bench.qos_baseline = qos_baseline
  rust_options = native_options(**TUNED, group_id: "rust#{suffix}-#{Process.pid}",
                                         subscribed_topics: TOPIC)
  rust = COUNT / Prosody::Native::Bench.rust_noop(rust_options, COUNT)
  [rust, *ruby_run("payload#{suffix}", read_payload: true),
   *ruby_run("bare#{suffix}", read_payload: false)]
ensure
  Prosody::Native::Bench.qos_baseline = false
end

rust, payload_rate, payload_allocs, bare_rate, bare_allocs = cases("", qos_baseline: false)

ROW = "%<label>-38s %<rate>10.0f msg/s  %<allocs>5.1f allocations/event  %<ratio>.2fx (a)"
puts format("%<label>-38s %<rate>10.0f msg/s", label: "(a) engine, Rust no-op handler:", rate: rust)
puts format(ROW, label: "(b) Ruby handler reading the payload:", rate: payload_rate,
                 allocs: payload_allocs, ratio: payload_rate / rust)
puts format(ROW, label: "(c) Ruby handler ignoring the payload:", rate: bare_rate,
                 allocs: bare_allocs, ratio: bare_rate / rust)

# A B B A: the first "with" run is the one above, the last one runs now; a drift in the
# machine's speed over the run then weighs on both sides alike.
def compare(title, first, without)
  with = [first, cases("-again-#{title.tr(" ", "_")}", qos_baseline: false)]
  puts "with / without #{title} (A B B A, means of two runs each):"
  { "(a)" => 0, "(b)" => 1, "(c)" => 3 }.each do |label, i|
    with_rate, without_rate = [with, without].map { |runs| runs.sum { |run| run[i] } / 2 }
    puts format("  %<label>s %<with>10.0f / %<without>10.0f msg/s = %<ratio>.2f",
                label:, with: with_rate, without: without_rate, ratio: with_rate / without_rate)
  end
end

# Runs the block with the per-message trace scope (what lets a handler's sends continue its
# message's trace and baggage) replaced by a bare call, as a gem without tracing would run.
def without_trace_scope
  scope = Prosody::TraceScope.singleton_class
  scope.alias_method(:bench_traced_with, :with)
  scope.define_method(:with) { |_message, &block| block.call }
  yield
ensure
  scope.alias_method(:with, :bench_traced_with)
  scope.remove_method(:bench_traced_with)
end

first = [rust, payload_rate, payload_allocs, bare_rate, bare_allocs]
if COMPARE_QOS
  compare("the qos layers", first,
          [cases("-baseline1", qos_baseline: true), cases("-baseline2", qos_baseline: true)])
end
# (b) and (c) once, with or (`baseline`) without the qos layers.
def ruby_cases(label, baseline:)
  Prosody::Native::Bench.qos_baseline = baseline
  [ruby_run("#{label}-payload", read_payload: true).first,
   ruby_run("#{label}-bare", read_payload: false).first]
ensure
  Prosody::Native::Bench.qos_baseline = false
end

# One A B B A round of (b) and (c): with the qos layers, without, without, with.
def qos_round(round)
  first, second, third, fourth = [false, true, true, false].each_with_index.map do |baseline, i|
    ruby_cases("round#{round}-#{i}", baseline:)
  end
  [0, 1].map { |k| (first[k] + fourth[k]) / (second[k] + third[k]) }
end

def median(values) = values.sort[values.size / 2]

if QOS_ROUNDS.positive?
  ratios = Array.new(QOS_ROUNDS) do |round|
    qos_round(round).tap do |b, c|
      puts format("qos round %<n>d: (b) %<b>.3f  (c) %<c>.3f", n: round + 1, b:, c:)
    end
  end
  puts format("with / without the qos layers, median of %<n>d A B B A rounds: (b) %<b>.3f  " \
              "(c) %<c>.3f", n: QOS_ROUNDS, b: median(ratios.map(&:first)),
                             c: median(ratios.map(&:last)))
end
if COMPARE_TRACING
  # (a) never enters Ruby, so its ratio shows only the machine's noise.
  compare("the Ruby trace scope", first,
          Array.new(2) { |i| without_trace_scope { cases("-untraced#{i}", qos_baseline: false) } })
end
if COMPARE_STATE
  # A B B A again: none (the run above), registered, registered, none.
  registered = Array.new(2) do |i|
    ruby_run("state-unused#{i}", read_payload: false, collections: [COUNTER]).first
  end
  none = [bare_rate, ruby_run("state-none", read_payload: false).first]
  with_rate, without_rate = [registered, none].map { |rates| rates.sum / 2 }
  puts "(c) with a registered, unused collection / with none (A B B A, means of two runs each):"
  puts format("  %<with>10.0f / %<without>10.0f msg/s = %<ratio>.2f",
              with: with_rate, without: without_rate, ratio: with_rate / without_rate)
  rate, allocs = ruby_run("state-increment", read_payload: false, collections: [COUNTER],
                                             increment: true)
  puts format(ROW, label: "(d) Ruby handler incrementing a value:", rate:, allocs:,
                   ratio: rate / rust)
end

require_relative "support/ffi_yardstick"

def spread(values)
  sorted = values.sort
  format("min %<min>8.0f  median %<median>8.0f  max %<max>8.0f",
         min: sorted.first, median: median(sorted), max: sorted.last)
end

missing = FfiYardstick.unavailable
puts "issue #15 targets, #{TARGET_ROUNDS} round(s) of (b) tuned, the FFI yardstick and (b) at " \
     "defaults:"
puts "  FFI yardstick not run: #{missing}" if missing
rounds = Array.new(TARGET_ROUNDS) do |round|
  tuned = ruby_run("r1-#{round}", read_payload: true).first
  unless missing
    ffi = FfiYardstick.json_rate(count: COUNT, partitions: PARTITIONS, keys: KEYS,
                                 bootstrap: BOOTSTRAP, topic: (TOPIC if REAL))
  end
  defaults = ruby_run("r2-#{round}", read_payload: true, tuned: false).first
  puts format("  round %<n>d: (b) tuned %<tuned>8.0f  FFI json %<ffi>8s  (b) defaults " \
              "%<defaults>8.0f msg/s", n: round + 1, tuned:, ffi: ffi ? format("%.0f", ffi) : "-",
                                       defaults:)
  [tuned, ffi, defaults]
end
tuned, ffi, defaults = rounds.transpose
puts "  (b) tuned:        #{spread(tuned)} msg/s"
puts "  FFI yardstick:    #{spread(ffi)} msg/s" unless missing
puts "  (b) at defaults:  #{spread(defaults)} msg/s"
unless missing
  puts format("  (R1) (b) tuned / FFI json, median of rounds:   %<r>.2f  [target >= 1.0]",
              r: median(rounds.map { |t, f, _| t / f }))
end
puts format("  (R2) (b) defaults / (b) tuned, median of rounds: %<r>.2f  [target >= 0.6]",
            r: median(rounds.map { |t, _, d| d / t }))
puts format("  (R3) allocations per event: %<b>.1f reading the payload [target <= 6], " \
            "%<c>.1f without [target <= 2]", b: payload_allocs, c: bare_allocs)

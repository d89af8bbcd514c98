# frozen_string_literal: true

# What the Ruby benchmarks share before they start: the check for the bench build of the
# extension, option parsing and the broker to run on.
module BenchSetup
  module_function

  # Aborts unless the extension has Prosody::Native::Bench (the `bench` Cargo feature).
  def require_bench_build(script)
    return if defined?(Prosody::Native::Bench)

    abort "#{script} needs the extension's bench helpers (Prosody::Native::Bench), which this " \
          "build lacks: run `PROSODY_CARGO_FEATURES=bench rake compile` first"
  end

  # Takes `name VALUE` out of ARGV and returns VALUE, or nil when `name` is not there.
  def option(name)
    at = ARGV.index(name)
    ARGV.slice!(at, 2).last if at
  end

  # Client options for the mock cluster, or with `real` for the Kafka of
  # PROSODY_BOOTSTRAP_SERVERS and the Cassandra of PROSODY_CASSANDRA_NODES (timers need it).
  # There deduplication is off unless `dedup`: with it, every message waits on Cassandra,
  # which is what `dedup` measures.
  def broker(real, dedup: false)
    return { mock: true, probe_port: false }.freeze unless real

    { bootstrap_servers: ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
      cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"),
      probe_port: false, **(dedup ? {} : { idempotence_cache_size: 0 }) }.freeze
  end
end

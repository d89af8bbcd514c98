# frozen_string_literal: true

require "json"
require "open3"

# Runs the plain Ruby-over-FFI librdkafka consumer (`../shared/bench/ruby_ffi_consumer.rb`) in a
# child process, on its own mock cluster, with the data shape bench/ruby_throughput.rb produces:
# the same message count, partitions and keys, and payloads of the same size. It is the ceiling
# of every rdkafka-ruby framework, so (R1) of issue #15 compares ours with its `json` run.
module FfiYardstick
  PATH = File.expand_path("../../../shared/bench/ruby_ffi_consumer.rb", __dir__)
  # The yardstick's tuned setting, from its README: fetch far ahead of the consumer.
  CONSUMER_CONF = "queued.min.messages=1000000"

  module_function

  # Why the yardstick cannot run here, or nil when it can.
  def unavailable
    return "#{PATH} is not there" unless File.exist?(PATH)

    _, status = Open3.capture2e(RbConfig.ruby, "-e", "require 'ffi'; FFI::DynamicLibrary.open(" \
                                                     "'librdkafka.so.1', 0)")
    return if status.success?

    "it needs ruby-ffi and librdkafka1 (apt-get install ruby-ffi librdkafka1)"
  end

  # The `json` run's rate in msg/s, or raises with the child's output. With `bootstrap` and
  # `topic` it reads that topic on a real cluster (which already holds the messages) instead
  # of producing its own on a mock one.
  def json_rate(count:, partitions:, keys:, bootstrap: nil, topic: nil)
    where = bootstrap ? ["--mode", "consume", "--bootstrap", bootstrap, "--topic", topic] : []
    output, status = Open3.capture2e(RbConfig.ruby, PATH, *where, "--n", count.to_s, "--keys",
                                     keys.to_s, "--partitions", partitions.to_s, "--brokers", "1",
                                     "--runs", "json", "--consumer-conf", CONSUMER_CONF)
    result = output.lines.grep(/\ARESULT /).last
    raise "the FFI yardstick failed (#{status}):\n#{output}" unless status.success? && result

    JSON.parse(result.delete_prefix("RESULT ")).fetch("rate")
  end
end

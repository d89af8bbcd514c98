# frozen_string_literal: true

require "stringio"
require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"
require_relative "../support/ruby_child"

# Records every line handed to it, whatever its level, before the level applies.
class CountingLogger < Logger
  attr_reader :added

  def initialize(level)
    super(StringIO.new, level:)
    @added = Queue.new
  end

  def add(severity, message = nil, progname = nil)
    @added << [severity, message || progname]
    super
  end
end

# A fresh Ruby (PROSODY_LOG is read once per process) that logs at DEBUG to stdout while a
# client skips one message and handles the next.
LOGGING_CHILD = <<~RUBY
  require "prosody"
  Prosody.logger = Logger.new($stdout, level: Logger::DEBUG)
  topic = "t-\#{Process.pid}"
  client = Prosody::Client.new(mock: true, probe_port: false, source_system: "spec",
                               group_id: "g-\#{Process.pid}", subscribed_topics: topic,
                               allowed_events: ["order."])
  seen = Queue.new
  handler = Class.new do
    define_method(:on_message) { |_c, m| seen << m }
    define_method(:on_timer) { |_c, _t| nil }
  end.new
  client.subscribe(handler)
  client.send_message(topic, "k", { "type" => "audit.read" })
  client.send_message(topic, "k", { "type" => "order.created" })
  Timeout.timeout(20) { seen.pop }
  client.unsubscribe
  Prosody::LogPump.flush
RUBY

# A fresh Ruby with the default logger (INFO, to stdout) that sends one message on the mock
# broker; `PROSODY_KAFKA_DEBUG` is read when a client is built.
KAFKA_DEBUG_CHILD = <<~RUBY
  require "prosody"
  Prosody.logger = Logger.new($stdout)
  client = Prosody::Client.new(mock: true, probe_port: false)
  client.send_message("kafka-debug-\#{Process.pid}", "k", { "n" => 1 })
  client.close
  Prosody::LogPump.flush
RUBY

RSpec.describe "engine logging" do
  include MockHelpers
  include RubyChild

  def filtering_client
    topic = unique("logging-spec")
    client = mock_client(group_id: unique("logging-group"), subscribed_topics: topic,
                         allowed_events: ["order."])
    [client, topic]
  end

  # Sends a message `allowed_events` filters out, then one with the same key that is handled:
  # once the second is seen, the first was skipped (one key runs in order).
  def skip_one_message(logger)
    Prosody.logger = logger
    client, topic = filtering_client
    handler = MockHelpers::RecordingHandler.new
    client.subscribe(handler)
    client.send_message(topic, "key-1", { "type" => "audit.read" })
    client.send_message(topic, "key-1", { "type" => "order.created" })
    pop_all(handler.events, 1)
    client.unsubscribe
    Prosody::LogPump.flush
    Array.new(logger.added.size) { logger.added.pop }
  end

  it "forwards the engine's debug lines when the logger is at DEBUG" do
    lines = skip_one_message(CountingLogger.new(Logger::DEBUG))

    expect(lines).to include([Logger::DEBUG, a_string_including("message skipped")])
  end

  it "logs a permanent failure once, with its partition and offset" do
    logger = CountingLogger.new(Logger::INFO)
    Prosody.logger = logger
    topic = unique("logging-failure")
    client = mock_client(group_id: unique("logging-group"), subscribed_topics: topic)
    # The first message fails for good; the second, of the same key, runs after it has settled.
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      if message.payload["n"] == 1
        raise Prosody::PermanentError,
              "bad order #{message.payload["n"]}"
      end
    end
    client.subscribe(handler)
    client.send_message(topic, "key-1", { "n" => 1 })
    client.send_message(topic, "key-1", { "n" => 2 })
    pop_all(handler.events, 1)
    client.unsubscribe
    Prosody::LogPump.flush
    lines = Array.new(logger.added.size) { logger.added.pop }.map(&:last).grep(/bad order 1/)

    expect(lines).to contain_exactly(a_string_including("partition=#{topic}/", "offset 0"))
  end

  it "makes no engine line below the logger's level" do
    lines = skip_one_message(CountingLogger.new(Logger::INFO))

    expect(lines.map(&:first)).not_to include(Logger::DEBUG)
    expect(lines).to include([Logger::INFO, a_string_including("partitions assigned")])
  end

  describe "PROSODY_LOG" do
    def log_with(filter)
      run_ruby(LOGGING_CHILD, { "PROSODY_LOG" => filter }, ["timeout"])
    end

    it "keeps only the targets it names" do
      output = log_with("prosody_engine::middleware=debug")

      expect(output).to include("message skipped")
      expect(output).not_to include("partitions assigned")
    end

    it "is ignored with a warning when it does not parse" do
      output = log_with("prosody_engine=loud")

      expect(output).to include("WARN").and include("PROSODY_LOG ignored")
      expect(output).to include("partitions assigned")
    end
  end

  describe "PROSODY_KAFKA_DEBUG" do
    def run_child(env)
      run_ruby(KAFKA_DEBUG_CHILD, env)
    end

    # Issue #14, item 5: librdkafka's lines went to the `log` crate, which nothing read.
    it "shows librdkafka's debug lines with the default logger" do
      output = run_child("PROSODY_KAFKA_DEBUG" => "broker,protocol")

      expect(output).to match(/INFO -- : librdkafka (BROKER|SEND|RECV|CONNECT)\b/)
    end

    it "adds nothing from librdkafka when unset" do
      output = run_child("PROSODY_KAFKA_DEBUG" => "")

      expect(output).not_to include("librdkafka")
    end
  end
end

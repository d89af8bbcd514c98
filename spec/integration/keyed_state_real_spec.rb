# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Keyed state from Ruby on the real Kafka broker and Cassandra: the same behaviour the mock
# examples in spec/prosody/keyed_state_spec.rb show, through the durable store.
RSpec.describe "Keyed state on real Kafka and Cassandra", :integration do
  include MockHelpers

  let(:bootstrap) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:topic) { unique("state-real") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: bootstrap) }
  let(:count) { Prosody.value("count") }
  let(:recent) { Prosody.deque("recent", capacity: 2) }

  before { admin.create_topic(topic, partitions: 1, replication: 1) }

  after do
    @clients&.each(&:close)
    admin.delete_topic(topic)
  end

  def real_client(**options)
    client = Prosody::Client.new(
      bootstrap_servers: bootstrap, probe_port: false, source_system: "state-real-spec",
      cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"), send_timeout: 10,
      retry_base: 0.005, max_retry_delay: 0.02, **options
    )
    (@clients ||= []) << client
    client
  end

  # Subscribes a client whose handler pushes what `block` returns (or raised) to a queue.
  def handle(collections, **options, &block)
    results = Queue.new
    options = { group_id: unique("state-real-group") }.merge(options)
    client = real_client(subscribed_topics: topic, state_collections: collections, **options)
    client.subscribe(MockHelpers::RecordingHandler.new do |context, message|
      results << block.call(context, message)
    rescue StandardError => e
      results << e
      raise
    end)
    [client, results]
  end

  it "keeps values per key, and a handler that raises leaves nothing for its retry" do
    client, results = handle([count, recent]) do |context, message|
      value = context.state(count)
      before = value.get
      value.set((before || 0) + 1)
      context.state(recent).push(message.payload["n"])
      raise Prosody::TransientError, "first attempt fails" if context.attempt == 1

      [before, context.state(recent).each.to_a]
    end
    3.times { |n| client.send_message(topic, "k", { "n" => n }) }
    outcomes = pop_all(results, 6, seconds: 60).map { |r| r.is_a?(Exception) ? r.class : r }
    failed = Prosody::TransientError
    expect(outcomes).to eq([failed, [nil, [0]], failed, [1, [0, 1]], failed, [2, [1, 2]]])
  end

  it "stores messages by reference in a message deque and reads them back from Kafka" do
    window = Prosody.message_deque("window", capacity: 2)
    client, results = handle([window]) do |context, message|
      deque = context.state(window)
      deque.push(message)
      deque.each.map do |m|
        [m.topic, m.offset, m.key, m.payload["n"], m.headers.key?("source-system")]
      end
    end
    3.times { |n| client.send_message(topic, "k", { "n" => n }) }
    expect(pop_all(results, 3, seconds: 60).last)
      .to eq([[topic, 1, "k", 1, true], [topic, 2, "k", 2, true]])
  end

  it "raises TransientStateError naming the collection when a stored record is gone" do
    source = unique("state-real-source")
    admin.create_topic(source, partitions: 1, replication: 1)
    first = Prosody.message_value("first")
    held = Prosody.message_deque("held")
    options = { group_id: unique("state-real-gone"), subscribed_topics: [topic, source],
                defer_seek_timeout: 2 }
    writer, results = handle([first, held], **options) do |context, message|
      context.state(first).set(message)
      context.state(held).push(message)
      message.offset
    end
    writer.send_message(source, "k", { "n" => 1 })
    expect(pop_all(results, 1, seconds: 60)).to eq([0])
    writer.close

    # Recreating the topic leaves the stored references (offset 0) past the new topic's end.
    admin.delete_topic(source)
    admin.create_topic(source, partitions: 1, replication: 1)
    reader, results = handle([first, held], **options) do |context, _|
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      error = begin
        context.state(first).get
      rescue Prosody::TransientStateError => e
        e
      end
      took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      deque = context.state(held)
      shifted = begin
        deque.shift
      rescue Prosody::TransientStateError => e
        e.class
      end
      [error, took, shifted, deque.length]
    end
    reader.send_message(topic, "k", {})
    error, took, shifted, left = pop_all(results, 1, seconds: 60).first
    expect(took).to be < 10, "answered within defer_seek_timeout (2 s) and a little"
    expect(error).to be_a(Prosody::TransientStateError)
    expect(error.message).to include("state collection `first` refers to offset 0 of `#{source}`/0")
    expect([shifted, left]).to eq([Prosody::TransientStateError, 0]),
                               "shift drops a dead reference even though it cannot load it"
  ensure
    admin.delete_topic(source)
  end

  it "lets another client read published state through the subsystem, once committed" do
    subsystem = unique("state-real-billing")
    totals = Prosody.map("totals", published: true, read_cache: false)
    client, results = handle([totals], subsystem:) do |context, message|
      context.state(totals).set("eur", message.payload["n"])
      nil
    end
    client.send_message(topic, "customer-7", { "n" => 12 })
    expect(pop_all(results, 1, seconds: 60)).to eq([nil])

    reader = real_client
    view = reader.state(subsystem, totals)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
    sleep 0.05 until view.get("customer-7", "eur") == 12 ||
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    expect(view.get("customer-7", "eur")).to eq(12)
    expect(view.each_pair("customer-7").to_a).to eq([["eur", 12]])
  end

  it "refuses a name the group first used as another kind" do
    group = unique("state-real-identity")
    first, results = handle([count], group_id: group) { |context, _| context.state(count).set(1) }
    first.send_message(topic, "k", {})
    expect(pop_all(results, 1, seconds: 60)).to eq([nil])
    first.close

    other = Prosody.map("count")
    second, results = handle([other], group_id: group) do |context, _|
      context.state(other).get("a")
    end
    second.send_message(topic, "k", {})
    error = pop_all(results, 1, seconds: 60).first
    expect(error).to be_a(Prosody::PermanentStateError)
    expect(error.message).to include("first used by group `#{group}` as value:bytes")
  end
end

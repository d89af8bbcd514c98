# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Issue #14, item 7: a restarted worker should take its partitions back without a rebalance.
# With `group_instance_id` librdkafka sends no LeaveGroup on close, and the broker hands a member
# that rejoins under the same id its old assignment, so the other member is never disturbed.
RSpec.describe "static group membership", :integration do
  include MockHelpers

  let(:bootstrap) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:topic) { unique("static-spec") }
  let(:group) { unique("static-group") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: bootstrap) }
  let(:clients) { [] }

  before { admin.create_topic(topic, partitions: 4, replication: 1) }

  after do
    clients.each { |client| client.unsubscribe if client.consumer_state == :running }
    admin.delete_topic(topic)
  end

  def member(instance, handler)
    client = Prosody::Client.new(bootstrap_servers: bootstrap, group_id: group,
                                 subscribed_topics: topic, group_instance_id: instance,
                                 probe_port: false, source_system: "static-spec", send_timeout: 10,
                                 cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES",
                                                            "127.0.0.1:9042"))
    clients << client
    client.subscribe(handler)
    client
  end

  def eventually(seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until yield
      raise "not within #{seconds}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.1 # the group's state lives in the broker; nothing local to wait on
    end
  end

  # Sends 40 keys (every partition gets some) and returns the partitions each handler saw.
  def partitions_seen(producer, round, handlers)
    40.times { |i| producer.send_message(topic, "key-#{i}", { "round" => round }) }
    seen = handlers.map { Set.new }
    eventually(60) do
      handlers.each_with_index do |handler, index|
        seen[index] << handler.events.pop.partition until handler.events.empty?
      end
      seen.sum(&:size) == 4
    end
    seen
  end

  it "gives a restarted member its partitions back while the other keeps its own throughout" do
    instance = "worker-a-#{SecureRandom.hex(4)}"
    first_handler = MockHelpers::RecordingHandler.new
    other_handler = MockHelpers::RecordingHandler.new
    first = member(instance, first_handler)
    other = member("worker-b-#{SecureRandom.hex(4)}", other_handler)
    eventually(60) { first.assigned_partitions == 2 && other.assigned_partitions == 2 }
    mine, theirs = partitions_seen(other, 1, [first_handler, other_handler])

    # Watch the other member's assignment from here on: a rebalance would revoke or add some.
    watching = true
    counts = Queue.new
    watcher = Thread.new do
      while watching
        counts << other.assigned_partitions
        sleep 0.02 # sampling a number; a missed blip shorter than this is no rebalance
      end
    end
    first.unsubscribe
    # A member that left would have its partitions handed to the other within a second or two.
    # Nothing marks a rebalance that does not happen, so the gap is waited out.
    sleep 6
    restarted_handler = MockHelpers::RecordingHandler.new
    restarted = member(instance, restarted_handler)
    eventually(30) { restarted.assigned_partitions == 2 }
    mine_again, theirs_again = partitions_seen(other, 2, [restarted_handler, other_handler])
    watching = false
    watcher.join

    expect(Array.new(counts.size) { counts.pop }.uniq).to eq([2])
    expect(mine_again).to eq(mine)
    expect(theirs_again).to eq(theirs)
  end
end

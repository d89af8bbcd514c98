# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"
require_relative "../support/timer_script"

RSpec.describe "Prosody against a real Kafka broker", :integration do
  include MockHelpers

  let(:bootstrap) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:topic) { unique("real-spec") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: bootstrap) }

  def real_client(**options)
    Prosody::Client.new(bootstrap_servers: bootstrap, probe_port: false, source_system: "real-spec",
                        cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"),
                        send_timeout: 10, **options)
  end

  after { admin.delete_topic(topic) }

  it "round-trips messages with every attribute and keeps each key in order" do
    admin.create_topic(topic, partitions: 3, replication: 1)
    handler = MockHelpers::RecordingHandler.new
    client = real_client(group_id: unique("real-group"), subscribed_topics: topic)
    client.subscribe(handler)
    sent = Hash.new(0)
    30.times do |i|
      key = "key-#{i % 5}"
      client.send_message(topic, key, { "seq" => sent[key], "list" => [1, { "x" => nil }] })
      sent[key] += 1
    end
    messages = pop_all(handler.events, 30, seconds: 60)
    client.unsubscribe

    first = messages.first
    expect(first.topic).to eq(topic)
    expect(first.partition).to be_between(0, 2)
    expect(first.offset).to be >= 0
    expect(first.timestamp).to be_a(Time)
    expect(first.headers["source-system"]).to eq("real-spec")
    expect(first.payload["list"]).to eq([1, { "x" => nil }])
    by_key = messages.group_by(&:key).transform_values { |list| list.map { |m| m.payload["seq"] } }
    sent.each { |key, count| expect(by_key[key]).to eq((0...count).to_a) }
  end

  it "sends from a plain thread and from inside a handler" do
    admin.create_topic(topic, partitions: 1, replication: 1)
    replies = "#{topic}-replies"
    admin.create_topic(replies, partitions: 1, replication: 1)
    reply_handler = MockHelpers::RecordingHandler.new
    listener = real_client(group_id: unique("replies"), subscribed_topics: replies)
    listener.subscribe(reply_handler)
    client = nil
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      client.send_message(replies, message.key, { "echo" => message.payload["n"] })
    end
    client = real_client(group_id: unique("echo"), subscribed_topics: topic)
    client.subscribe(handler)
    Thread.new { 3.times { |n| client.send_message(topic, "k", { "n" => n }) } }.join
    echoes = pop_all(reply_handler.events, 3, seconds: 60).map { |m| m.payload["echo"] }
    expect(echoes).to eq([0, 1, 2])
  ensure
    client&.unsubscribe
    listener&.unsubscribe
    admin.delete_topic(replies)
  end

  it "fires a timer stored in Cassandra" do
    admin.create_topic(topic, partitions: 2, replication: 1)
    handler = TimerScript.new
    client = real_client(group_id: unique("real-timers"), subscribed_topics: topic)
    client.subscribe(handler)
    due = Time.now.to_i + 2
    client.send_message(topic, "k", [["schedule", due], ["schedule", due + 3600]])
    expect(pop_all(handler.listed, 1,
                   seconds: 60)).to eq([["k", [Time.at(due), Time.at(due + 3600)]]])
    key, time, fired_at, listed = pop_all(handler.fired, 1, seconds: 60).first
    client.send_message(topic, "k", [["clear"]])
    expect(pop_all(handler.listed, 1, seconds: 60)).to eq([["k", []]])
    client.unsubscribe

    expect([key, time, listed]).to eq(["k", Time.at(due), [Time.at(due + 3600)]])
    expect(fired_at).to be >= Time.at(due)
  end
end

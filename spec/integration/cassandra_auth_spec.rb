# frozen_string_literal: true

require "spec_helper"
require "stringio"
require "prosody"
require_relative "../support/mock_helpers"
require_relative "../support/timer_script"

# Issue #14, security: `cassandra_user` and `cassandra_password` reach a Cassandra that requires
# a login. script/test starts one (PasswordAuthenticator, 127.0.0.1:19042) and names it in
# PROSODY_CASSANDRA_AUTH_NODES; without that variable these examples skip saying so.
RSpec.describe "Prosody against a Cassandra that requires a login", :integration do
  include MockHelpers

  let(:bootstrap) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:nodes) { ENV.fetch("PROSODY_CASSANDRA_AUTH_NODES", nil) }
  let(:topic) { unique("cassandra-auth") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: bootstrap) }
  let(:log) { StringIO.new }

  before do
    skip "PROSODY_CASSANDRA_AUTH_NODES is not set (script/test starts that Cassandra)" unless nodes
    admin.create_topic(topic, partitions: 1, replication: 1)
    Prosody.logger = Logger.new(log, level: Logger::INFO)
  end

  after { admin.delete_topic(topic) if nodes }

  def client(password)
    Prosody::Client.new(bootstrap_servers: bootstrap, probe_port: false, telemetry_enabled: false,
                        source_system: "cassandra-auth-spec",
                        group_id: unique("cassandra-auth"), subscribed_topics: topic,
                        cassandra_nodes: nodes, cassandra_user: "cassandra",
                        cassandra_password: password, send_timeout: 10)
  end

  it "stores and fires a timer with the right login" do
    handler = TimerScript.new
    subject = client("cassandra")
    subject.subscribe(handler)
    # Due a few seconds after the group's join, however long that takes: a timer already due
    # when it is scheduled is firing, and `scheduled` leaves it out.
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 60
    sleep 0.1 until subject.assigned_partitions.positive? ||
                    Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    due = Time.now.to_i + 5
    subject.send_message(topic, "k", [["schedule", due]])
    listed = begin
      pop_all(handler.listed, 1, seconds: 60)
    rescue Timeout::Error
      raise "nothing handled; log:\n#{log.string}"
    end
    expect(listed).to eq([["k", [Time.at(due)]]])
    key, time, = pop_all(handler.fired, 1, seconds: 60).first
    expect([key, time]).to eq(["k", Time.at(due)])
    expect(log.string).not_to include("cassandra connect failed")
  ensure
    subject&.unsubscribe
  end

  it "names the refused login in a WARN, handles nothing and never logs the password" do
    handler = TimerScript.new
    subject = client("wrong-password-4711")
    subject.subscribe(handler)
    subject.send_message(topic, "k", [["schedule", Time.now.to_i + 1]])
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    sleep 0.1 until log.string.include?("bad credentials") ||
                    Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    expect(log.string).to include("cassandra connect failed", "bad credentials")
    expect(handler.listed).to be_empty
    expect(handler.fired).to be_empty
    subject.unsubscribe
    expect(log.string).not_to include("wrong-password-4711")
  end
end

# frozen_string_literal: true

require "net/http"
require "socket"
require "stringio"
require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Issue #14, item 6: with every bootstrap server dead, a subscribed client stayed `:running` with
# no partitions and logged only warnings. Real (non-mock) settings, with a port nothing listens on.
RSpec.describe "a consumer whose brokers are unreachable", :integration do
  include MockHelpers

  let(:dead) { "127.0.0.1:1" }
  let(:log) { StringIO.new }
  let(:port) do
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1].tap { server.close }
  end
  let(:client) do
    Prosody::Client.new(bootstrap_servers: dead, group_id: unique("dead-group"),
                        subscribed_topics: unique("dead-topic"), probe_host: "127.0.0.1",
                        probe_port: port, source_system: "dead-spec",
                        cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"))
  end

  before { Prosody.logger = Logger.new(log) }
  after { client.unsubscribe if client.consumer_state == :running }

  def waited_for(seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until (value = yield)
      now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      raise "nothing within #{seconds}s" if now > deadline

      sleep 0.2 # polling an outside process's view; nothing to wait on
    end
    value
  end

  def error_lines
    Prosody::LogPump.flush
    log.string.lines.grep(/\AE, .*no kafka broker reachable/)
  end

  it "says so through broker_error and /readyz at once, and logs one ERROR line" do
    client.subscribe(MockHelpers::RecordingHandler.new)

    error = waited_for(10) { client.broker_error }
    expect(error)
      .to match(/no kafka broker reachable for \d+s at 127\.0\.0\.1:1 \(.*Connection refused/)
    ready = Net::HTTP.get_response("127.0.0.1", "/readyz", port)
    expect(ready.code).to eq("503")
    expect(ready.body).to include("not ready: no kafka broker reachable by consumer")
      .and include("at 127.0.0.1:1")

    line = waited_for(25) { error_lines.first }
    expect(line).to include("servers=127.0.0.1:1").and include("check bootstrap_servers")
    sleep 2 # a turn or twenty of the poll loop, which must not repeat the line
    expect(error_lines.size).to eq(1)
    expect(client.consumer_state).to eq(:running)
  end
end

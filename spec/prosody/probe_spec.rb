# frozen_string_literal: true

require "net/http"
require "socket"
require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe "health probes" do
  include MockHelpers

  let(:topic) { unique("probe-spec") }
  let(:clients) { [] }

  after { clients.each { |client| client.unsubscribe if client.consumer_state == :running } }

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def probed_client(port, **options)
    client = Prosody::Client.new(mock: true, group_id: unique("probe-group"),
                                 subscribed_topics: topic, probe_host: "127.0.0.1",
                                 probe_port: port, source_system: "probe-spec", **options)
    clients << client
    client
  end

  def probe(port, path)
    Net::HTTP.start("127.0.0.1", port, open_timeout: 5, read_timeout: 10) { |http| http.get(path) }
  end

  # Asks `path` until the answer has `status`, failing after 20 seconds.
  def probe_until(port, path, status)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    loop do
      response = probe(port, path)
      return response if response.code.to_i == status
      raise "#{path} still answers #{response.code}: #{response.body}" if
        Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end

  it "stays off in mock mode unless a port is set, and listens on 0.0.0.0 by default" do
    defaults = Prosody::Client.new(mock: true).configuration
    expect(defaults).to include(probe_port: false, probe_host: "0.0.0.0")
    expect(Prosody::Client.new(mock: true, probe_port: 9123).configuration[:probe_port]).to eq(9123)
  end

  it "answers /readyz with the partition count and /livez, and stops after unsubscribe" do
    port = free_port
    client = probed_client(port)
    client.subscribe(MockHelpers::RecordingHandler.new)

    response = probe_until(port, "/readyz", 200)
    count = client.assigned_partitions
    expect(response.body).to start_with("ready: #{count} partitions assigned\n")
    expect(probe(port, "/livez").code).to eq("200")
    expect(probe(port, "/nope").code).to eq("404")

    client.unsubscribe
    expect { probe(port, "/readyz") }.to raise_error(Errno::ECONNREFUSED)
  end

  it "shares one port between clients and is ready only when both are" do
    port = free_port
    first = probed_client(port)
    second = probed_client(port)
    first.subscribe(MockHelpers::RecordingHandler.new)
    second.subscribe(MockHelpers::RecordingHandler.new)

    response = probe_until(port, "/readyz", 200)
    total = first.assigned_partitions + second.assigned_partitions
    expect(response.body).to start_with("ready: #{total} partitions assigned\n")
    expect(response.body.lines.size).to eq(3)

    first.unsubscribe
    expect(probe(port, "/readyz").body.lines.size).to eq(2)
  end

  it "fails subscribe naming the port when another socket holds it" do
    holder = TCPServer.new("127.0.0.1", 0)
    port = holder.addr[1]
    client = probed_client(port)

    expect { client.subscribe(MockHelpers::RecordingHandler.new) }
      .to raise_error(Prosody::Error, /probe_port #{port}\b.*(in use|Address already)/i)
    expect(client.consumer_state).to eq(:configured)
  ensure
    holder&.close
  end

  it "reports a blocked handler on /livez, naming the partition, as is_stalled? does" do
    port = free_port
    release = Queue.new
    client = probed_client(port, stall_threshold: 1, timeout: 60, shutdown_timeout: 2)
    client.subscribe(MockHelpers::RecordingHandler.new { release.pop })
    probe_until(port, "/readyz", 200)
    client.send_message(topic, "k", { "n" => 1 })

    response = probe_until(port, "/livez", 503)
    expect(client.is_stalled?).to be(true)
    expect(response.body).to match(%r{partition #{topic}/\d: uncommitted work without progress})

    release << :go
    probe_until(port, "/livez", 200)
    expect(client.is_stalled?).to be(false)
  end

  it "serves a forked child's own probes, and the parent's keep answering" do
    parent_port = free_port
    parent = probed_client(parent_port)
    parent.subscribe(MockHelpers::RecordingHandler.new)
    probe_until(parent_port, "/readyz", 200)

    child_port = free_port
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      child = probed_client(child_port)
      child.subscribe(MockHelpers::RecordingHandler.new)
      writer.write(probe_until(child_port, "/readyz", 200).body)
      child.unsubscribe
    ensure
      writer.close
      exit!(0)
    end
    writer.close
    body = reader.read
    Process.wait(pid)

    expect(body).to start_with("ready: 4 partitions assigned\n")
    expect(body.lines.size).to eq(2) # the child's consumer only
    expect(probe(parent_port, "/readyz").code).to eq("200")
  end
end

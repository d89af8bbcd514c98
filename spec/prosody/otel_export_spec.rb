# frozen_string_literal: true

require "socket"
require "spec_helper"
require_relative "../support/ruby_child"

# A fresh Ruby whose handler relays one message; prints both records' traceparents.
RELAY_CHILD = <<~RUBY
  require "prosody"
  inbound = "otel-in-\#{Process.pid}"
  outbound = "otel-out-\#{Process.pid}"
  client = Prosody::Client.new(mock: true, probe_port: false, source_system: "spec-producer",
                               group_id: "otel-\#{Process.pid}",
                               subscribed_topics: [inbound, outbound])
  seen = Queue.new
  handler = Class.new do
    define_method(:on_message) do |_context, message|
      client.send_message(outbound, "relayed", { "n" => 2 }) if message.topic == inbound
      seen << message
    end
    define_method(:on_timer) { |_c, _t| nil }
  end.new
  client.subscribe(handler)
  client.send_message(inbound, "origin", { "n" => 1 })
  messages = Timeout.timeout(20) { Array.new(2) { seen.pop } }.sort_by { |m| m.topic == inbound ? 0 : 1 }
  client.unsubscribe
  client.close
  messages.each { |m| puts "traceparent \#{m.topic == inbound ? "in" : "out"} \#{m.headers["traceparent"]}" }
RUBY

# A fresh Ruby whose handler schedules a timer (its trigger span a child of the message's, with
# `timer_spans: "child"`) that sends one record; prints both records' traceparents.
TIMER_CHILD = <<~RUBY
  require "prosody"
  inbound = "otel-tin-\#{Process.pid}"
  outbound = "otel-tout-\#{Process.pid}"
  client = Prosody::Client.new(mock: true, probe_port: false, source_system: "spec-producer",
                               group_id: "otel-t-\#{Process.pid}", timer_spans: "child",
                               subscribed_topics: [inbound, outbound])
  seen = Queue.new
  handler = Class.new do
    define_method(:on_message) do |context, message|
      context.schedule(Time.now) if message.topic == inbound
      seen << message
    end
    define_method(:on_timer) { |_c, timer| client.send_message(outbound, timer.key, { "n" => 2 }) }
  end.new
  client.subscribe(handler)
  client.send_message(inbound, "origin", { "n" => 1 })
  messages = Timeout.timeout(20) { Array.new(2) { seen.pop } }.sort_by { |m| m.topic == inbound ? 0 : 1 }
  client.unsubscribe
  client.close
  messages.each { |m| puts "traceparent \#{m.topic == inbound ? "in" : "out"} \#{m.headers["traceparent"]}" }
RUBY

# Accepts OTLP/HTTP requests on a free loopback port and keeps [path, content type, body].
class OtlpReceiver
  OK = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"

  attr_reader :port, :requests

  def initialize
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @requests = Queue.new
    @thread = Thread.new { loop { serve(@server.accept) } }
  end

  def stop
    @thread.kill
    @server.close
  end

  def bodies
    Array.new(@requests.size) { @requests.pop }
  end

  private

  # One connection, possibly several requests (the exporter keeps it alive).
  def serve(socket)
    Thread.new do
      while (line = socket.gets)
        path = line.split[1]
        headers = read_headers(socket)
        body = socket.read(headers.fetch("content-length", "0").to_i)
        @requests << [path, headers["content-type"], body]
        socket.write(OK)
      end
    rescue IOError, SystemCallError
      nil
    ensure
      socket.close
    end
  end

  def read_headers(socket)
    headers = {}
    while (line = socket.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.downcase] = value.strip
    end
    headers
  end
end

# Spans leave a Ruby process over OTLP (http/protobuf) when OTEL_EXPORTER_OTLP_ENDPOINT is set,
# read once when the first client is built, so each example runs a fresh Ruby. The engine's
# tests decode the spans and check the tree; here the receiver only looks for the identifiers
# in the raw protobuf bodies, which is enough to tell that a Ruby handler's send wrote the id of
# an exported span.
RSpec.describe "OTLP span export" do
  include RubyChild

  let(:receiver) { OtlpReceiver.new }

  after { receiver.stop }

  def traceparents(output)
    output.scan(/^traceparent (in|out) (\S+)$/).to_h
  end

  def bytes_of(hex)
    [hex].pack("H*")
  end

  it "exports the spans, and a handler's send writes the id of its exported send span" do
    env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://127.0.0.1:#{receiver.port}",
            "OTEL_SERVICE_NAME" => "prosody-ruby-spec", "OTEL_BSP_SCHEDULE_DELAY" => "100" }
    output = run_ruby(RELAY_CHILD, env, ["timeout"])
    parents = traceparents(output)
    expect(parents.keys).to contain_exactly("in", "out"), output

    requests = receiver.bodies
    expect(requests.map(&:first)).to all(eq("/v1/traces"))
    expect(requests.map { |request| request[1] }).to all(eq("application/x-protobuf"))
    body = requests.map(&:last).join.b
    expect(body).to include("prosody-ruby-spec", "receive", "send")
    _, trace, relayed_span, = parents.fetch("out").split("-")
    expect(parents.fetch("in").split("-")[1]).to eq(trace)
    expect(body).to include(bytes_of(trace))
    expect(body).to include(bytes_of(relayed_span))
  end

  it "continues a timer's trigger span in a send its handler makes" do
    env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://127.0.0.1:#{receiver.port}",
            "OTEL_BSP_SCHEDULE_DELAY" => "100" }
    parents = traceparents(run_ruby(TIMER_CHILD, env, ["timeout"]))
    _, trace, sent_span, = parents.fetch("out").split("-")
    expect(trace).to eq(parents.fetch("in").split("-")[1])
    body = receiver.bodies.map(&:last).join.b
    expect(body).to include("trigger", bytes_of(sent_span))
  end

  it "exports nothing without OTEL_EXPORTER_OTLP_ENDPOINT, and still continues the trace" do
    output = run_ruby(RELAY_CHILD, { "OTEL_EXPORTER_OTLP_ENDPOINT" => nil }, ["timeout"])
    parents = traceparents(output)
    expect(parents.fetch("out").split("-")[1]).to eq(parents.fetch("in").split("-")[1])
    expect(receiver.requests).to be_empty
  end
end

# frozen_string_literal: true

require "spec_helper"
require_relative "../support/ruby_child"

# Issue #13: with the `opentelemetry-api` gem loaded, a handler runs inside its message's
# OpenTelemetry context (its baggage included), and `send_message` continues Ruby's current
# span and carries Ruby's current baggage. Each example runs
# in a fresh Ruby, since loading the API defines ::OpenTelemetry for the whole process.
RSpec.describe "The OpenTelemetry bridge" do
  include RubyChild

  # Sends one record with application baggage, relays it from inside a handler, and sends one
  # from inside an application span outside any handler; prints what each side saw, one fact
  # per line.
  def script(span_block)
    <<~RUBY
      require "timeout"
      Prosody.logger = Logger.new(File::NULL)
      inbound, outbound = "otel-in-\#{Process.pid}", "otel-out-\#{Process.pid}"
      seen = Queue.new
      client = nil
      handler = Class.new(Prosody::EventHandler) do
        define_method(:on_message) do |_context, message|
          puts "\#{message.key}-header \#{message.headers["baggage"]}"
          if message.topic == inbound
            current = OpenTelemetry::Trace.current_span.context
            puts "message \#{message.traceparent}"
            puts "handler-current 00-\#{current.#{span_block[:trace]}}-\#{current.#{span_block[:span]}}-01"
            puts "message-baggage \#{message.baggage.map { |pair| pair.join("=") }.join(",")}"
            puts "handler-baggage \#{OpenTelemetry::Baggage.values.map { |pair| pair.join("=") }.join(",")}"
            client.send_message(outbound, "relayed", { "n" => 1 })
          end
          seen << message
        end
      end
      client = Prosody::Client.new(mock: true, group_id: "g-\#{inbound}", source_system: "otel-spec",
                                   subscribed_topics: [inbound, outbound])
      client.subscribe(handler.new)
      app_baggage = OpenTelemetry::Baggage.build { |baggage| baggage.set_value("tenant", "a,c") }
      OpenTelemetry::Context.with_current(app_baggage) do
        client.send_message(inbound, "origin", { "n" => 0 })
      end
      Timeout.timeout(30) { 2.times { seen.pop } }
      #{span_block[:open]} do |span|
        puts "app-span 00-\#{span.context.#{span_block[:trace]}}-\#{span.context.#{span_block[:span]}}-01"
        client.send_message(outbound, "from-span", { "n" => 2 })
      end
      sent = Timeout.timeout(30) { seen.pop }
      puts "sent-from-span \#{sent.headers["traceparent"]}"
      client.unsubscribe
    RUBY
  end

  def facts(output)
    output.lines.map(&:split).select { |line| line.size == 2 }.to_h
  end

  def expect_bridged(output)
    facts = facts(output)
    expect(facts.keys).to include("message", "handler-current", "app-span", "sent-from-span"),
                          output
    # The handler's current context is its message's.
    expect(facts["handler-current"]).to eq(facts["message"])
    # A send inside an application span, outside any handler, continues that span's trace.
    expect_same_trace(facts["sent-from-span"], facts["app-span"])
    expect_baggage_carried(facts)
  end

  # Ruby's baggage goes out with a send, reaches the handler both ways, and goes on.
  def expect_baggage_carried(facts)
    expect(facts.values_at("origin-header", "relayed-header")).to eq(["tenant=a%2Cc"] * 2)
    expect(facts.values_at("message-baggage", "handler-baggage")).to eq(["tenant=a,c"] * 2)
    expect(facts).not_to have_key("from-span-header")
  end

  def expect_same_trace(traceparent, other)
    expect(traceparent.split("-")[1]).to eq(other.split("-")[1])
  end

  it "joins a stand-in of the API's surface (the gem itself is not installed here)" do
    stand_in = File.expand_path("../support/otel_api_stand_in", __dir__)
    output = run_ruby(script(open: "OpenTelemetry::Trace.in_child_span", trace: "trace_id",
                             span: "span_id"), {}, [stand_in, "prosody"])
    expect_bridged(output)
  end

  it "joins the real opentelemetry-sdk's context and W3C propagation" do
    unless Gem::Specification.find_all_by_name("opentelemetry-sdk").any?
      skip "the opentelemetry-sdk gem is not installed (Debian does not package it)"
    end

    setup = "OpenTelemetry::SDK.configure; TRACER = OpenTelemetry.tracer_provider.tracer('spec')"
    output = run_ruby("#{setup}\n#{script(open: "TRACER.in_span('app')", trace: "hex_trace_id",
                                          span: "hex_span_id")}",
                      {}, %w[opentelemetry-sdk prosody])
    expect_bridged(output)
  end
end

# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "securerandom"
require_relative "../support/mock_helpers"

# W3C trace context across Kafka: a message sent while a handler runs carries a `traceparent`
# in the trace of the message being handled, and its `baggage`; any other send starts a new
# trace.
RSpec.describe "Trace propagation" do
  include MockHelpers

  let(:inbound) { "trace-in-#{SecureRandom.hex(4)}" }
  let(:outbound) { "trace-out-#{SecureRandom.hex(4)}" }
  let(:received) { Queue.new }

  # [version, trace id, span id, flags] of a message's traceparent.
  def trace_of(message)
    message.headers.fetch("traceparent").split("-")
  end

  def relay(client, message, from_thread)
    send = -> { client.send_message(outbound, "relayed", { "from" => message.offset }) }
    from_thread ? Thread.new(&send).join : send.call
  end

  def relaying_client(from_thread: false)
    client = nil
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      received << message
      next unless message.topic == inbound

      relay(client, message, from_thread)
    end
    client = mock_client(group_id: "g-#{inbound}", subscribed_topics: [inbound, outbound])
    client.subscribe(handler)
    client
  end

  it "continues the handled message's trace in a send made by its handler" do
    client = relaying_client
    client.send_message(inbound, "origin", { "n" => 1 })
    first, relayed = pop_all(received, 2).sort_by { |m| m.topic == inbound ? 0 : 1 }

    version, trace, span, flags = trace_of(first)
    expect(trace_of(relayed)[0]).to eq(version)
    expect(trace_of(relayed)[1]).to eq(trace)
    expect(trace_of(relayed)[2]).not_to eq(span)
    expect(trace_of(relayed)[3]).to eq(flags)
  ensure
    client&.unsubscribe
  end

  it "continues the handled message's trace in a send from a thread its handler starts" do
    client = relaying_client(from_thread: true)
    client.send_message(inbound, "origin", { "n" => 1 })
    first, relayed = pop_all(received, 2).sort_by { |m| m.topic == inbound ? 0 : 1 }

    expect(trace_of(relayed)[1]).to eq(trace_of(first)[1])
    expect(trace_of(relayed)[2]).not_to eq(trace_of(first)[2])
  ensure
    client&.unsubscribe
  end

  it "carries the handled message's W3C baggage on, trimmed to what is valid" do
    client = relaying_client
    # The public API sends baggage only from Ruby's OpenTelemetry context (otel_bridge_spec);
    # without the gem the native call takes it directly.
    client.instance_variable_get(:@native)
          .send_message(inbound, "origin", { "n" => 1 }, nil,
                        { "tenant" => "acme", "user" => "Jörg", "bad key" => "dropped" }).value
    first, relayed = pop_all(received, 2).sort_by { |m| m.topic == inbound ? 0 : 1 }

    expect(first.headers["baggage"]).to eq("tenant=acme,user=J%C3%B6rg")
    expect(first.baggage).to eq({ "tenant" => "acme", "user" => "Jörg" })
    expect(relayed.headers["baggage"]).to eq("tenant=acme,user=J%C3%B6rg")
    expect(relayed.baggage).to eq({ "tenant" => "acme", "user" => "Jörg" })
  ensure
    client&.unsubscribe
  end

  it "carries a timer's scheduler's baggage and trace on to sends made when it fires" do
    client = nil
    # Locals: the handler's methods run with the handler as self, not the example.
    queue = received
    topic_in = inbound
    topic_out = outbound
    handler = Class.new(Prosody::EventHandler) do
      define_method(:on_message) do |context, message|
        queue << message
        context.schedule(Time.now) if message.topic == topic_in
      end
      define_method(:on_timer) do |_context, timer|
        client.send_message(topic_out, timer.key, { "from" => "timer" })
      end
    end
    client = mock_client(group_id: "g-#{inbound}", subscribed_topics: [inbound, outbound])
    client.subscribe(handler.new)
    client.instance_variable_get(:@native)
          .send_message(inbound, "origin", { "n" => 1 }, nil, { "tenant" => "acme" }).value
    first, fired = pop_all(received, 2).sort_by { |m| m.topic == inbound ? 0 : 1 }

    expect(fired.payload).to eq({ "from" => "timer" })
    expect(fired.baggage).to eq({ "tenant" => "acme" })
    expect(trace_of(fired)[1]).not_to eq(trace_of(first)[1]) # no span exported: a new trace
  ensure
    client&.unsubscribe
  end

  it "sends no baggage outside a handler, and gives an empty Hash for a record without it" do
    client = relaying_client
    client.send_message(inbound, "origin", { "n" => 1 })
    messages = pop_all(received, 2)
    expect(messages.map { |message| message.headers.key?("baggage") }).to eq([false, false])
    expect(messages.map(&:baggage)).to eq([{}, {}])
  ensure
    client&.unsubscribe
  end

  it "starts a new trace for each send made outside a handler, also after one ran" do
    client = relaying_client
    client.send_message(inbound, "origin", { "n" => 1 })
    handled = trace_of(pop_all(received, 2).first)[1]
    client.send_message(outbound, "later", { "n" => 2 })
    client.send_message(outbound, "later", { "n" => 3 })
    traces = pop_all(received, 2).map { |message| trace_of(message)[1] }
    expect(traces.uniq.size).to eq(2)
    expect(traces).to all(match(/\A\h{32}\z/))
    expect(traces).not_to include(handled)
  ensure
    client&.unsubscribe
  end
end

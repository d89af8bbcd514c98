# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/prosody_env"
require "json"
require_relative "../support/mock_helpers"

# Code written for the prosody 0.1.1 gem, in the style of its README and specs, run unchanged
# against this gem on the mock broker. Each example is one thing a team moving over relies on.
RSpec.describe "code written for prosody 0.1.1" do
  include MockHelpers

  include_context "without PROSODY_* variables"

  # The quick start's handler, reporting to a queue instead of printing.
  let(:handler_class) do
    Class.new(Prosody::EventHandler) do
      permanent :on_message, TypeError, NoMethodError
      transient :on_message, JSON::ParserError

      def initialize(seen)
        super()
        @seen = seen
      end

      def on_message(context, message)
        @seen << [:message, message.key, message.payload]
        context.schedule(Time.now + 1) if message.payload["schedule_followup"]
      end

      def on_timer(_context, timer)
        @seen << [:timer, timer.key, timer.time.class]
      end
    end
  end

  it "runs the quick start: keyword options, subscribe, send_message, a timer, unsubscribe" do
    topic = unique("compat-orders")
    seen = Queue.new
    client = Prosody::Client.new(mock: true, source_system: "my-application-source",
                                 group_id: "my-application", subscribed_topics: topic,
                                 probe_port: :disabled)

    expect(client.consumer_state).to eq(:configured)
    client.subscribe(handler_class.new(seen))
    expect(client.consumer_state).to eq(:running)
    client.send_message(topic, "message-key", { content: "Hello, Kafka!", schedule_followup: true })

    events = pop_all(seen, 2)
    client.unsubscribe

    expect(events).to eq([[:message, "message-key",
                           { "content" => "Hello, Kafka!", "schedule_followup" => true }],
                          [:timer, "message-key", Time]])
    expect(client.source_system).to eq("my-application-source")
    expect(client.consumer_state).to eq(:configured)
  end

  it "builds a Configuration, reads it back and hands it to the client" do
    config = Prosody::Configuration.new do |c|
      c.bootstrap_servers = "localhost:9092"
      c.group_id = "my-application"
      c.subscribed_topics = %w[orders payments]
      c.mode = "PIPELINE"
      c.probe_port = "disabled"
      c.max_concurrency = "16"
      c.stall_threshold = 120
      c.mock = true
    end

    expect(config.bootstrap_servers).to eq(["localhost:9092"])
    expect(config.mode).to eq(:pipeline)
    expect(config.probe_port).to be(false)
    expect(config.max_concurrency).to eq(16)
    expect(config.stall_threshold).to eq(120.0)
    expect(config.timeout).to be_nil
    expect(config.to_hash).to include(group_id: "my-application", max_concurrency: 16)
    expect(Prosody::Client.new(config).consumer_state).to eq(:configured)
  end

  it "raises ArgumentError from the writer for an unknown mode and a port out of range" do
    config = Prosody::Configuration.new

    expect { config.mode = :turbo }.to raise_error(ArgumentError, /mode/)
    expect { config.probe_port = 99_999 }.to raise_error(ArgumentError, /probe_port/)
  end

  it "rescues handler errors through Prosody::EventHandlerError and asks permanent?" do
    account_closed = Class.new(Prosody::EventHandlerError) do
      def permanent? = true
    end
    errors = [Prosody::PermanentError.new("bad"), Prosody::TransientError.new("later"),
              account_closed.new("closed")]

    answers = errors.map do |error|
      raise error
    rescue Prosody::EventHandlerError => e
      e.permanent?
    end
    expect(answers).to eq([true, false, true])
    expect(Prosody::EventHandlerError.ancestors).to include(Prosody::Error, StandardError)
  end

  it "turns a classified exception into a PermanentError the handler's caller sees" do
    handler = handler_class.new([])
    message = Struct.new(:key, :payload).new("k", nil)

    expect { handler.on_message(nil, message) }.to raise_error(Prosody::PermanentError)
  end

  it "gets RuntimeError from a client used after fork" do
    client = mock_client
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      client.consumer_state
      writer.puts("no error")
    rescue RuntimeError => e
      writer.puts(e.message)
    ensure
      writer.close
      exit!(0)
    end
    writer.close
    message = reader.read
    Process.wait(pid)

    expect(message).to include("after fork")
  end
end

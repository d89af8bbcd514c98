# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "active_support"
require "active_support/notifications"
require "active_support/core_ext/object/json"
require "active_support/core_ext/time"
require "bigdecimal"
require_relative "../support/mock_helpers"

RSpec.describe Prosody::Instrumentation do
  include MockHelpers

  let(:topic) { unique("notifications-spec") }
  let(:events) { Queue.new }

  after do
    @subscriptions&.each { |subscription| ActiveSupport::Notifications.unsubscribe(subscription) }
    @client&.unsubscribe if @client&.consumer_state == :running
  end

  def subscribe(name, &block)
    block ||= ->(event) { events << event }
    (@subscriptions ||= []) << ActiveSupport::Notifications.subscribe(name) do |*args|
      block.call(ActiveSupport::Notifications::Event.new(*args))
    end
  end

  def subscribed(handler, **options)
    @client = mock_client(group_id: unique("notifications-group"), subscribed_topics: topic,
                          retry_base: 0.005, max_retry_delay: 0.02, **options)
    @client.subscribe(handler)
    @client
  end

  it "instruments each handler run in the handler's own fiber, with what it ran and how" do
    fibers = Queue.new
    subscribe(described_class::PROCESS_MESSAGE) { |event| events << [event, Fiber.current] }
    handler = MockHelpers::RecordingHandler.new do |context, message|
      fibers << Fiber.current
      raise IOError, "flaky" if message.payload["n"].zero? && context.attempt == 1
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 0 })

    (first, first_fiber), (second, second_fiber) = pop_all(events, 2)
    expect(first.payload).to include(topic:, partition: a_kind_of(Integer), offset: 0,
                                     key: "k", attempt: 1, outcome: :transient)
    expect(second.payload).to include(offset: 0, attempt: 2, outcome: :success)
    expect(second.payload[:duration]).to be_a(Float).and be >= 0
    expect([first_fiber, second_fiber]).to eq(pop_all(fibers, 2))
  end

  it "instruments handler errors with the error and its kind" do
    subscribe(described_class::HANDLER_ERROR)
    handler_class = Class.new(Prosody::EventHandler) do
      define_method(:on_message) { |_context, _message| raise ArgumentError, "bad order" }
      define_method(:on_timer) { |_context, _timer| nil }
      permanent :on_message, ArgumentError
    end
    client = subscribed(handler_class.new)
    client.send_message(topic, "k", { "n" => 1 })

    event = pop_all(events, 1).first
    expect(event.payload).to include(key: "k", topic:, attempt: 1, kind: :permanent)
    expect(event.payload[:error]).to be_a(Prosody::PermanentError)
      .and have_attributes(message: "bad order", cause: an_instance_of(ArgumentError))
  end

  it "instruments timer runs with the timer's key and time" do
    subscribe(described_class::PROCESS_TIMER)
    due = Time.now.to_i + 1
    handler = MockHelpers::RecordingHandler.new do |context, _message|
      context.schedule(Time.at(due))
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 1 })

    event = pop_all(events, 1).first
    expect(event.payload).to include(key: "k", time: Time.at(due), attempt: 1, outcome: :success)
  end

  it "instruments sends" do
    subscribe(described_class::SEND_MESSAGE)
    client = mock_client
    client.send_message(topic, "k", { "n" => 1 })

    expect(pop_all(events, 1).first.payload).to eq(topic:, key: "k", payload: { "n" => 1 })
  ensure
    client&.close
  end

  it "builds nothing for an event no one subscribes to" do
    allow(described_class).to receive(:event_payload).and_call_original
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 1 })
    pop_all(handler.events, 1)

    expect(described_class).not_to have_received(:event_payload)
  end

  it "keeps the outcome when a subscriber raises, reporting it once" do
    log = StringIO.new
    Prosody.logger = Logger.new(log)
    subscribe(described_class::PROCESS_MESSAGE) { |_event| raise "broken subscriber" }
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    2.times { |n| client.send_message(topic, "k", { "n" => n }) }

    expect(pop_all(handler.events, 2).map { |m| m.payload["n"] }).to eq([0, 1])
    expect(handler.events).to be_empty
    expect(log.string).to include("process_message.prosody subscriber failed", "broken subscriber")
  end

  it "sends times, decimals and objects with as_json the way Rails serialises them" do
    record = Struct.new(:id) { def as_json(*) = { "id" => id } }.new(7)
    at = Time.utc(2026, 12, 2, 8, 30).in_time_zone("Europe/Paris")
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    client.send_message(topic, "k",
                        { "at" => at, "amount" => BigDecimal("12.50"), "record" => record })

    expect(pop_all(handler.events, 1).first.payload)
      .to eq({ "at" => at.as_json, "amount" => "12.5", "record" => { "id" => 7 } })
  end

  it "still names the value at fault when as_json cannot help either" do
    client = mock_client

    expect { client.send_message(topic, "k", { "when" => BasicObject.new }) }
      .to raise_error(TypeError, /payload\["when"\].*BasicObject/)
  ensure
    client&.close
  end
end

# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe "The telemetry events topic" do
  include MockHelpers

  let(:topic) { unique("telemetry-spec") }
  let(:group) { unique("telemetry-group") }
  let(:events_topic) { unique("telemetry-events") }

  after do
    [@client, @reader].each { |client| client.unsubscribe if client&.consumer_state == :running }
  end

  # A second client, subscribed to the events topic, reads `count` events back.
  def read_events(count)
    handler = MockHelpers::RecordingHandler.new
    @reader = mock_client(group_id: unique("telemetry-reader"), subscribed_topics: events_topic)
    @reader.subscribe(handler)
    pop_all(handler.events, count).map { |message| [message.key, message.payload] }
  end

  it "writes each attempt's lifecycle and each send as JSON" do
    failed = false
    @client = mock_client(group_id: group, subscribed_topics: topic, retry_base: 0.01,
                          telemetry_enabled: true, telemetry_topic: events_topic)
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      if message.key == "flaky" && !failed
        failed = true
        raise "first attempt fails"
      end
    end
    @client.subscribe(handler)
    @client.send_message(topic, "ok", { "n" => 1 })
    @client.send_message(topic, "flaky", { "n" => 2 })
    pop_all(handler.events, 2)
    @client.unsubscribe # flushes the emitter before it returns

    events = read_events(8)
    sends, lifecycle = events.partition { |_, event| event["type"] == "prosody.message.sent" }
    expect(sends.map(&:first)).to contain_exactly("ok", "flaky")
    expect(sends.map { |_, event| event["source"] }.uniq).to eq(["spec-producer"])
    types = ->(key) { lifecycle.select { |k, _| k == key }.map { |_, event| event["type"] } }
    expect(types["ok"]).to eq(%w[prosody.message.dispatched prosody.message.succeeded])
    expect(types["flaky"]).to eq(%w[prosody.message.dispatched prosody.message.failed
                                    prosody.message.dispatched prosody.message.succeeded])
    failure = lifecycle.find { |_, event| event["type"] == "prosody.message.failed" }.last
    expect(failure).to include("topic" => topic, "key" => "flaky", "source" => group,
                               "demandType" => "normal", "errorCategory" => "transient")
    expect(failure["exception"]).to include("first attempt fails")
    expect(Time.iso8601(failure["eventTime"])).to be_within(60).of(Time.now)
  end

  it "is off in mock mode unless enabled, and says so in the configuration" do
    quiet = mock_client.configuration
    expect(quiet[:telemetry_enabled]).to be(false)
    expect(quiet.applies?(:telemetry_topic)).to be(false)

    loud = mock_client(telemetry_enabled: true).configuration
    expect(loud[:telemetry_enabled]).to be(true)
    expect(loud.applies?(:telemetry_topic)).to be(true)
  end
end

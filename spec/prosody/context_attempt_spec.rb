# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe Prosody::Context, "#attempt" do
  include MockHelpers

  let(:topic) { unique("attempt-spec") }

  after { @client&.unsubscribe if @client&.consumer_state == :running }

  def subscribed(handler, **options)
    @client = mock_client(group_id: unique("attempt-group"), subscribed_topics: topic, **options)
    @client.subscribe(handler)
    @client
  end

  it "counts the retry layer's attempts at an event from 1, and starts again for the next" do
    seen = Queue.new
    handler = MockHelpers::RecordingHandler.new do |context, message|
      seen << [message.payload["n"], context.attempt]
      raise IOError, "flaky" if message.payload["n"].zero? && context.attempt < 3
    end
    client = subscribed(handler, retry_base: 0.005, max_retry_delay: 0.02)
    client.send_message(topic, "k", { "n" => 0 })
    client.send_message(topic, "k", { "n" => 1 })

    expect(pop_all(seen, 4)).to eq([[0, 1], [0, 2], [0, 3], [1, 1]])
    expect(pop_all(handler.events, 2).map { |m| m.payload["n"] }).to eq([0, 1])
  end

  it "stays at 1 in best-effort mode, which makes no further attempts" do
    seen = Queue.new
    handler = MockHelpers::RecordingHandler.new do |context, message|
      seen << context.attempt
      raise IOError, "lost" if message.payload["fail"]
    end
    client = subscribed(handler, mode: :best_effort)
    client.send_message(topic, "k", { "fail" => true })
    client.send_message(topic, "k", { "fail" => false })

    expect(pop_all(seen, 2)).to eq([1, 1])
    expect(pop_all(handler.events, 1).first.payload).to eq({ "fail" => false })
  end
end

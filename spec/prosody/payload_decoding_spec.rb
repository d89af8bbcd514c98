# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe "Message#payload decoding" do
  include MockHelpers

  let(:topic) { unique("payload-decoding") }

  after { @client&.unsubscribe }

  def received(payloads)
    handler = MockHelpers::RecordingHandler.new
    @client = mock_client(group_id: unique("payload-group"), subscribed_topics: topic)
    @client.subscribe(handler)
    payloads.each { |payload| @client.send_message(topic, "same-key", payload) }
    pop_all(handler.events, payloads.size)
  end

  def allocations
    before = GC.stat(:total_allocated_objects)
    yield
    GC.stat(:total_allocated_objects) - before
  end

  it "allocates only the Hash for a payload whose keys it has seen, as integers need none" do
    first, second = received(Array.new(2) { |i| { "alpha" => i, "beta" => 2, "gamma" => 3 } })
    first.payload
    allocations { nil } # the counter's first use allocates an object of its own
    expect(allocations { second.payload }).to eq(1)
    expect(second.payload).to eq("alpha" => 1, "beta" => 2, "gamma" => 3)
  end

  it "shares frozen key Strings between payloads and leaves String values unfrozen" do
    first, second = received(Array.new(2) { { "name" => "value" } }).map(&:payload)
    expect(first.keys.first).to be_frozen.and(equal(second.keys.first))
    expect(first["name"]).not_to be_frozen
    first["name"] << "!"
    expect(first["name"]).to eq("value!")
  end
end

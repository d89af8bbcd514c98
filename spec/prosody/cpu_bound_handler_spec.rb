# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "securerandom"
require_relative "../support/mock_helpers"

# A handler that never yields holds the processor thread that every handler of its
# subscription shares.
RSpec.describe "A handler that never yields" do
  include MockHelpers

  let(:topic) { "cpu-bound-#{SecureRandom.hex(4)}" }
  let(:log) { StringIO.new }
  let(:spinning) { Queue.new }
  let(:handler) do
    spinning = self.spinning
    MockHelpers::RecordingHandler.new do |_context, message|
      next unless message.key == "spin"

      spinning << true
      loop { Math.sqrt(2) }
    end
  end

  before { Prosody.logger = Logger.new(log) }

  def subscribe_and_spin
    client = mock_client(group_id: "g-#{topic}", subscribed_topics: topic, shutdown_timeout: 1)
    client.subscribe(handler)
    client.send_message(topic, "spin", { "n" => 1 })
    Timeout.timeout(20) { spinning.pop }
    client
  end

  it "is named in a warning once it has held the thread past the threshold" do
    client = subscribe_and_spin
    Timeout.timeout(20) { sleep 0.1 until log.string.include?("without yielding") }
    expect(log.string).to match(/held the processor thread for [\d.]+s without yielding/)
    expect(log.string).to match(%r{running: key "spin" at #{topic}/\d+@0; at .*cpu_bound_handler})
  ensure
    Timeout.timeout(30) { client&.unsubscribe }
  end

  it "cannot keep unsubscribe or close from returning, and is left uncommitted" do
    client = subscribe_and_spin
    processor = client.instance_variable_get(:@processor).thread
    # Without the stop grace, this waited for the loop forever.
    Timeout.timeout(30) { client.close }
    expect(processor).not_to be_alive
    expect(log.string)
      .to match(%r{did not yield within 2s of unsubscribe \(key "spin" at #{topic}/\d+@0\)})

    replacement = MockHelpers::RecordingHandler.new
    again = mock_client(group_id: "g-#{topic}", subscribed_topics: topic)
    again.subscribe(replacement)
    redelivered = pop_all(replacement.events, 1).first
    expect([redelivered.key, redelivered.offset]).to eq(["spin", 0])
    again.unsubscribe
  end
end

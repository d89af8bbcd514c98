# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Each message reaches Ruby as two of Prosody's objects: the Context (which is also the
# processor's handle on the event) and the Message. A wrapper around the handle, as there once
# was, would make it three.
RSpec.describe "Prosody objects per event" do
  include MockHelpers

  # Live objects of Prosody's classes; with the GC off, the growth between two counts is what
  # was allocated in between.
  def prosody_objects
    ObjectSpace.each_object(Object).count { |object| object.class.name&.start_with?("Prosody::") }
  end

  it "is two per message: its context and the message" do
    topic = unique("allocations")
    client = mock_client(group_id: unique("allocations-group"), subscribed_topics: topic)
    count = 1_500
    count.times { |n| client.send_message(topic, "key-#{n % 50}", { "n" => n }) }
    done = Queue.new
    handled = 0
    handler = Class.new do
      define_method(:on_message) { |_context, _message| done << true if (handled += 1) == count }
      define_method(:on_timer) { |_context, _timer| nil }
    end
    GC.disable
    before = prosody_objects
    client.subscribe(handler.new)
    pop_all(done, 1, seconds: 60)
    # The subscription's own objects (processor, workers...) add well under 0.1 per event.
    expect((prosody_objects - before).fdiv(count)).to be_between(2, 2.5)
  ensure
    GC.enable
    client&.close
  end
end

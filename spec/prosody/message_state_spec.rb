# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/state_helpers"

# Message collections (`Prosody.message_value`, `.message_map`, `.message_deque`) on the mock
# broker: a write keeps the message's topic, partition and offset in the process-wide memory
# store, and a read loads the message back from the mock cluster through the consumer's
# record loader.
RSpec.describe "Message collections" do
  include StateHelpers

  let(:topic) { unique("message-state") }
  let(:first) { Prosody.message_value("first") }
  let(:by_type) { Prosody.message_map("by_type") }
  let(:window) { Prosody.message_deque("window", capacity: 2) }

  after { @client&.close }

  # What a test compares of a message: where it lives and what it holds.
  def summary(message)
    message && [message.class, message.topic, message.partition, message.offset, message.key,
                message.payload, message.timestamp, message.headers]
  end

  describe "definitions" do
    it "are frozen message definitions of their kind" do
      expect(first).to be_frozen
      expect([first.kind, by_type.kind, window.kind]).to eq(%i[value map deque])
      expect([first, by_type, window].map(&:payload)).to eq(%i[message] * 3)
      expect(window).to be_message
      expect(Prosody.deque("window", capacity: 2)).not_to eq(window)
      expect(window.inspect).to include("message_deque \"window\"")
      expect(Prosody).not_to respond_to(:message_set)
    end

    it "refuse `published` and `read_cache`, and options of other kinds, naming them" do
      expect { Prosody.message_value("v", published: true) }
        .to raise_error(ArgumentError, /option `published` does not apply to message_value `v`/)
      expect { Prosody.message_map("m", read_cache: 5) }
        .to raise_error(ArgumentError, /option `read_cache` does not apply to message_map `m`/)
      expect { Prosody.message_value("v", capacity: 3) }
        .to raise_error(ArgumentError, /unknown option `capacity` for message_value `v`/)
      expect { Prosody.message_deque("d", capacity: 0) }
        .to raise_error(ArgumentError, /option `capacity`/)
      expect { Prosody.message_map("m", keyset_limit: "all") }
        .to raise_error(TypeError, /option `keyset_limit` of message_map `m` must be an Integer/)
    end

    it "cannot be read as published state from another client" do
      reader = mock_client
      expect { reader.state("billing", first) }
        .to raise_error(ArgumentError, /message_value `first` cannot be read from another client/)
    ensure
      reader&.close
    end
  end

  it "stores messages by reference in a value, a map and a deque and reads them back whole" do
    originals = Queue.new
    results = handle([first, by_type, window]) do |context, message|
      originals << summary(message)
      value = context.state(first)
      map = context.state(by_type)
      deque = context.state(window)
      value.set(message) if value.get.nil?
      map.set(message.payload["type"], message)
      deque.push(message)
      [summary(value.get), map.each_pair.map { |type, m| [type, summary(m)] },
       deque.each.map { |m| summary(m) }, summary(map.get("none"))]
    end
    send_all({ "type" => "a", "n" => 1 }, { "type" => "b", "n" => 2 }, { "type" => "a", "n" => 3 })
    # Generous limits: under GC_STRESS this example may also pay for starting the mock cluster.
    sent = pop_all(originals, 3, seconds: 60)
    last = pop_all(results, 3, seconds: 60).last
    expect(last).to eq([sent[0], [["a", sent[2]], ["b", sent[1]]], [sent[1], sent[2]], nil])
    expect(sent.map { |s| s[5]["n"] }).to eq([1, 2, 3])
  end

  it "trims a deque to its capacity and pops and shifts messages" do
    results = handle([window]) do |context, message|
      deque = context.state(window)
      deque.push(message)
      n = message.payload["n"]
      next deque.each.map { |m| m.payload["n"] } if n < 4

      [deque.length, deque.first.payload["n"], deque.get(-1).payload["n"],
       deque.shift.payload["n"], deque.pop.payload["n"], deque.pop]
    end
    send_all({ "n" => 1 }, { "n" => 2 }, { "n" => 3 }, { "n" => 4 })
    expect(pop_all(results, 4)).to eq([[1], [1, 2], [2, 3], [2, 3, 4, 3, 4, nil]])
  end

  it "leaves nothing behind when the handler raises after writing" do
    results = handle([window]) do |context, message|
      deque = context.state(window)
      before = deque.each.map(&:offset)
      deque.push(message)
      raise Prosody::TransientError, "first attempt fails" if context.attempt == 1

      [message.offset, before]
    end
    send_all({ "reraise" => true }, { "reraise" => true })
    outcomes = pop_all(results, 4).map { |r| r.is_a?(Exception) ? r.class : r }
    (first_offset, first_before), (second_offset, second_before) = outcomes.values_at(1, 3)
    expect(outcomes.values_at(0, 2)).to eq([Prosody::TransientError] * 2)
    expect([first_before, second_before]).to eq([[], [first_offset]])
    expect(second_offset).to be > first_offset
  end

  it "refuses anything but a Prosody::Message, naming the collection" do
    results = handle([first, window]) do |context, message|
      [[first, :set], [window, :push]].map do |definition, method|
        context.state(definition).public_send(method, message.payload)
      rescue TypeError => e
        e.message
      end + [context.state(window).length]
    end
    send_all({ "n" => 1 })
    expect(pop_all(results, 1).first).to eq(
      ["message_value `first` stores Prosody::Message objects (a message a handler received), " \
       "got Hash",
       "message_deque `window` stores Prosody::Message objects (a message a handler received), " \
       "got Hash",
       0]
    )
  end

  it "fails cleanly for a message collection that is not registered" do
    results = handle([first]) { |context, _| context.state(Prosody.message_deque("other")).first }
    send_all({})
    error = pop_all(results, 1).first
    expect(error).to be_a(Prosody::PermanentStateError)
    expect(error.message).to include("`other` is not registered")
  end

  it "reads messages back from a thread the handler starts, waiting without the GVL" do
    results = handle([first]) do |context, message|
      state = context.state(first)
      Thread.new { state.set(message) }.join
      Thread.new { state.get.payload }.value
    end
    send_all({ "n" => 7 })
    expect(pop_all(results, 1)).to eq([{ "n" => 7 }])
  end
end

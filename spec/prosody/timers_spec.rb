# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"
require_relative "../support/timer_script"
require "prosody/rspec"

RSpec.describe "Timers through a handler" do
  include MockHelpers
  include Prosody::RSpec::Helpers

  let(:topic) { unique("timers-spec") }
  let(:group) { unique("timers-group") }

  after { @client&.unsubscribe if @client&.consumer_state == :running }

  def run_script(messages)
    handler = TimerScript.new
    @client = mock_client(group_id: group, subscribed_topics: topic)
    @client.subscribe(handler)
    messages.each { |key, ops| @client.send_message(topic, key, ops) }
    handler
  end

  it "fires a scheduled timer on time with its key and time" do
    due = Time.now.to_i + 2
    handler = run_script([["k", [["schedule", due]]]])
    expect(pop_all(handler.listed, 1)).to eq([["k", [Time.at(due)]]])
    key, time, fired_at, listed = pop_all(handler.fired, 1).first
    expect([key, time]).to eq(["k", Time.at(due)])
    expect(fired_at).to be >= Time.at(due)
    expect(fired_at - Time.at(due)).to be < 1.0
    expect(listed).to eq([])
  end

  it "lists scheduled times after each operation, earliest first" do
    t = Time.now.to_i + 3600
    handler = run_script([
                           ["k", [["schedule", t + 100], ["schedule", t + 50]]],
                           ["k", [["unschedule", t + 50]]],
                           ["k", [["clear_and_schedule", t + 200], ["schedule", t + 300]]],
                           ["k", [["clear"]]],
                           ["other", [["schedule", t + 9]]]
                         ])
    listed = pop_all(handler.listed, 5).sort_by { |key, _| key == "k" ? 0 : 1 }
    expect(listed).to eq([
                           ["k", [Time.at(t + 50), Time.at(t + 100)]],
                           ["k", [Time.at(t + 100)]],
                           ["k", [Time.at(t + 200), Time.at(t + 300)]],
                           ["k", []],
                           ["other", [Time.at(t + 9)]]
                         ])
  end

  # Fired on demand (prosody/rspec), so nothing waits for the clock or sleeps to see that
  # nothing else fires.
  it "does not fire unscheduled or cleared timers" do
    due = Time.now.to_i + 3600
    handler = TimerScript.new
    with_test_consumer(handler) do |consumer|
      expect(consumer.deliver(key: "a", payload: [["schedule", due], ["unschedule", due]]))
        .to be_handled
      expect(consumer.deliver(key: "b", payload: [["schedule", due],
                                                  ["clear_and_schedule", due + 1]])).to be_handled

      expect(consumer.fire_timers("a")).to eq([])
      expect(consumer.fire_timers("b").map(&:status)).to eq([:handled])
    end
    expect(pop_all(handler.fired, 1).map { |key, time, *| [key, time] })
      .to eq([["b", Time.at(due + 1)]])
    expect(handler.fired).to be_empty
  end

  it "rounds to whole seconds, half up" do
    base = Time.now.to_i + 3600
    handler = TimerScript.new
    handler.define_singleton_method(:on_message) do |context, _message|
      context.schedule(Time.at(base, 499_999, :usec))
      context.schedule(Time.at(base + 10, 500_000, :usec))
      @listed << context.scheduled
    end
    @client = mock_client(group_id: group, subscribed_topics: topic)
    @client.subscribe(handler)
    @client.send_message(topic, "k", {})
    expect(pop_all(handler.listed, 1).first).to eq([Time.at(base), Time.at(base + 11)])
  end

  it "rejects times a timer cannot hold, saying why" do
    errors = Queue.new
    handler = TimerScript.new
    handler.define_singleton_method(:on_message) do |context, _message|
      [Time.at(-1), Time.at(2**32), "tomorrow"].each do |time|
        context.schedule(time)
      rescue ArgumentError, TypeError => e
        errors << e
      end
    end
    @client = mock_client(group_id: group, subscribed_topics: topic)
    @client.subscribe(handler)
    @client.send_message(topic, "k", {})
    early, late, wrong = pop_all(errors, 3)
    expect(early).to be_a(ArgumentError).and(have_attributes(message: /before 1970/))
    expect(late).to be_a(ArgumentError).and(have_attributes(message: /after 2106-02-07/))
    expect(wrong).to be_a(TypeError).and(have_attributes(message: /must be a Time, got String/))
  end

  it "works from a plain thread inside the handler" do
    due = Time.now.to_i + 3600
    handler = TimerScript.new
    handler.define_singleton_method(:on_message) do |context, _message|
      Thread.new { context.schedule(Time.at(due)) }.join
      @listed << context.scheduled
    end
    @client = mock_client(group_id: group, subscribed_topics: topic)
    @client.subscribe(handler)
    @client.send_message(topic, "k", {})
    expect(pop_all(handler.listed, 1).first).to eq([Time.at(due)])
  end

  it "refuses timer operations from a context kept after its handler returned" do
    kept = Queue.new
    handler = TimerScript.new
    handler.define_singleton_method(:on_message) { |context, _message| kept << context }
    @client = mock_client(group_id: group, subscribed_topics: topic)
    @client.subscribe(handler)
    # The key's second message runs only once the first handler's outcome was reported.
    2.times { @client.send_message(topic, "k", {}) }
    context, = pop_all(kept, 2)
    expect { context.schedule(Time.now + 60) }
      .to raise_error(Prosody::Error, /handler has returned/)
    expect { context.scheduled }.to raise_error(Prosody::Error, /handler has returned/)
  end
end

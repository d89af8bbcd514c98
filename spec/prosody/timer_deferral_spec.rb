# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Schedules the times a message lists; its timers fail while `failing` says so, and record
# [time, attempt, scheduled] when they succeed.
class DeferredTimerScript < Prosody::EventHandler
  attr_reader :handled

  def initialize(&failing)
    super()
    @failing = failing
    @attempts = Hash.new(0)
    @handled = Queue.new
  end

  def on_message(context, message)
    message.payload["schedule"].each { |seconds| context.schedule(Time.at(seconds)) }
  end

  def on_timer(context, timer)
    attempt = (@attempts[timer.time] += 1)
    raise IOError, "downstream unavailable" if @failing.call(timer, attempt)

    @handled << [timer.time, attempt, context.scheduled]
  end
end

RSpec.describe "Deferred timers" do
  include MockHelpers

  let(:topic) { unique("timer-deferral-spec") }

  after { @client&.unsubscribe if @client&.consumer_state == :running }

  it "defers a failing on_timer, retries it with its time, and lists the timers queued behind it" do
    now = Time.now.to_i
    first = Time.at(now + 1)
    second = Time.at(now + 2)
    # The first timer fails until the second has come due; being deferred, the second then
    # waits in the key's backlog, not in the timer store, and is still listed as scheduled.
    handler = DeferredTimerScript.new { |timer, _| timer.time == first && Time.now < second + 1 }
    @client = mock_client(group_id: unique("timer-deferral-group"), subscribed_topics: topic,
                          max_retries: 1, retry_base: 0.005, max_retry_delay: 0.02,
                          defer_base: 0.3, defer_max_delay: 0.6)
    @client.subscribe(handler)
    @client.send_message(topic, "k", { "schedule" => [first.to_i, second.to_i] })

    (time, attempts, listed), later = pop_all(handler.handled, 2)
    expect(time).to eq(first)
    # Two attempts in place, then deferred retries at least 0.3 s apart.
    expect(attempts).to be > 2
    expect(listed).to eq([second])
    expect(later).to eq([second, 1, []])
  end
end

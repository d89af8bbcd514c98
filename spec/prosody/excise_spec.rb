# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"
require_relative "../support/real_kafka"

# Logs each call's kind, key, payload and demand to `log`, after running `block`.
class ExciseSpecHandler
  def initialize(log, block)
    @log = log
    @block = block
  end

  def on_message(context, message)
    @block&.call(:message, context, message)
    @log << [:message, message.key, message.payload, context.demand]
  end

  def on_timer(context, timer)
    @block&.call(:timer, context, timer)
    @log << [:timer, timer.key, nil, context.demand]
  end

  # The same, taking excise records.
  class Excising < ExciseSpecHandler
    def on_excise(context, message)
      @block&.call(:excise, context, message)
      @log << [:excise, message.key, [message.payload, message.excise?], context.demand]
    end
  end
end

# Issue 18: excise records, `context.demand` and `client.shutdown`, each on the mock broker and
# (tagged :integration) on the real Kafka and Cassandra that `script/services` runs.
RSpec.shared_examples "excise, demand and shutdown" do
  include MockHelpers

  let(:topic) { unique("excise-spec") }
  let(:events) { Queue.new }
  let(:count) { Prosody.value("count") }

  after { @clients&.each(&:close) }

  def client_for(**options)
    client = build_client(group_id: unique("excise-group"), subscribed_topics: topic,
                          retry_base: 0.005, max_retry_delay: 0.02, **options)
    (@clients ||= []) << client
    client
  end

  # Records each call's kind, key, payload and demand, running `block` first.
  def recorder(excise:, &block)
    (excise ? ExciseSpecHandler::Excising : ExciseSpecHandler).new(events, block)
  end

  it "skips an excise record and commits past it when the handler has no on_excise" do
    client = client_for
    client.subscribe(recorder(excise: false))
    client.send_message(topic, "k", { "n" => 1 })
    client.excise(topic, "k")
    client.send_message(topic, "k", { "n" => 2 })

    seen = pop_all(events, 2, seconds: 60).map { |kind, _, payload, _| [kind, payload] }
    expect(seen).to eq([[:message, { "n" => 1 }], [:message, { "n" => 2 }]])
    client.unsubscribe
    # The group committed past the tombstone: a new member of it gets nothing again.
    client.subscribe(recorder(excise: true))
    client.send_message(topic, "k", { "n" => 3 })
    expect(pop_all(events, 1, seconds: 60).map(&:first)).to eq([:message])
  end

  it "hands an excise record to on_excise in the key's order, never alongside its timers" do
    running = Hash.new(0)
    overlaps = []
    client = client_for
    client.subscribe(recorder(excise: true) do |kind, context, event|
      running[context.key] += 1
      overlaps << [kind, context.key] if running[context.key] > 1
      first_of_a = kind == :message && context.key == "a" && event.payload["n"].zero?
      context.schedule(Time.now) if first_of_a
      sleep 0.02 # gives a second event of the key the chance to overlap, were it allowed to
      running[context.key] -= 1
    end)
    %w[a b].each do |key|
      client.send_message(topic, key, { "n" => 0 })
      client.excise(topic, key)
      client.send_message(topic, key, { "n" => 1 })
      client.excise(topic, key)
    end

    seen = pop_all(events, 9, seconds: 60)
    expect(overlaps).to eq([])
    expect(seen.count { |kind, key, _, _| kind == :timer && key == "a" }).to eq(1)
    %w[a b].each do |key|
      order = seen.select { |kind, k, _, _| k == key && kind != :timer }.map { |e| e[0..2] }
      expect(order).to eq([[:message, key, { "n" => 0 }], [:excise, key, [nil, true]],
                           [:message, key, { "n" => 1 }], [:excise, key, [nil, true]]])
    end
  end

  it "retries on_excise like any event, and leaves the key's keyed state to it" do
    client = client_for(state_collections: [count])
    client.subscribe(recorder(excise: true) do |kind, context, _event|
      state = context.state(count)
      if kind == :excise
        events << [:excise_sees, context.key, state.get]
        raise IOError, "flaky" if context.demand.retry < 2

        state.clear if context.key == "cleared"
      else
        state.set((state.get || 0) + 1)
        events << [:count, context.key, state.get]
      end
    end)
    %w[kept cleared].each do |key|
      client.send_message(topic, key, {})
      client.excise(topic, key)
      client.send_message(topic, key, {})
    end

    seen = pop_all(events, 16, seconds: 60).group_by { |event| event[1] }
    %w[kept cleared].each do |key|
      trail = seen[key].map do |event|
        case event[0]
        when :excise then [:excise, event[2], event[3].retry]
        when :message then [:message]
        else event
        end
      end
      sees = [:excise_sees, key, 1]
      excised = [:excise, [nil, true], 2]
      expect(trail).to eq([[:count, key, 1], [:message], sees, sees, sees, excised,
                           [:count, key, key == "kept" ? 2 : 1], [:message]])
    end
  end

  it "tells a handler its demand through retries in place and after a deferral" do
    client = client_for(max_retries: 1, defer_base: 0.3, defer_max_delay: 0.6)
    attempts = Queue.new
    client.subscribe(recorder(excise: false) do |kind, context, message|
      next unless kind == :message && message.key == "k"

      attempts << [context.demand, Process.clock_gettime(Process::CLOCK_MONOTONIC)]
      raise IOError, "down" if context.demand.retry < 3
    end)
    # A success first keeps the failure rate under defer_failure_threshold, so "k" defers.
    client.send_message(topic, "other", {})
    first = pop_all(events, 1, seconds: 60).first[3]
    client.send_message(topic, "k", {})

    tried = pop_all(attempts, 4, seconds: 60)
    demands = tried.map { |demand, _| [demand.kind, demand.retry, demand.normal?, demand.failure?] }
    expect([first.kind, first.retry]).to eq([:normal, 0])
    expect(demands).to eq([[:normal, 0, true, false], [:failure, 1, false, true],
                           [:failure, 2, false, true], [:failure, 3, false, true]])
    # Retry 2 came back from the key's deferred backlog, defer_base after retry 1.
    expect(tried[2][1] - tried[1][1]).to be >= 0.25
    expect(pop_all(events, 1, seconds: 60).first[0..1]).to eq([:message, "k"])
  end

  it "tells on_timer its demand through retries too" do
    client = client_for
    tries = Queue.new
    client.subscribe(recorder(excise: false) do |kind, context, _event|
      context.schedule(Time.now) if kind == :message
      next unless kind == :timer

      tries << [context.demand.kind, context.demand.retry]
      raise IOError, "not yet" if context.demand.retry < 2
    end)
    client.send_message(topic, "k", {})

    expect(pop_all(tries, 3, seconds: 60)).to eq([[:normal, 0], [:failure, 1], [:failure, 2]])
    fired = pop_all(events, 2, seconds: 60).find { |event| event[0] == :timer }
    expect(fired[3]).to eq(Prosody::Demand.new(2))
  end

  it "shuts down once when 8 threads call shutdown at once" do
    client = client_for
    client.subscribe(recorder(excise: false))
    client.send_message(topic, "k", {})
    pop_all(events, 1, seconds: 60)

    gate = Queue.new
    threads = Array.new(8) { Thread.new { gate.pop && client.shutdown } }
    8.times { gate << true }
    expect(threads.map { |thread| thread.join(60)&.value }).to eq([nil] * 8)
    expect(client.consumer_state).not_to eq(:running)
    expect { client.send_message(topic, "k", {}) }.to raise_error(Prosody::ClosedError)
    expect { client.unsubscribe }.to raise_error(Prosody::NotSubscribedError)
    expect(client.shutdown).to be_nil
  end
end

RSpec.describe "Excise records, demand and shutdown on the mock broker" do
  include MockHelpers

  def build_client(**options)
    mock_client(**options)
  end

  it_behaves_like "excise, demand and shutdown"
end

RSpec.describe "Excise records, demand and shutdown on real Kafka", :integration do
  include MockHelpers

  include_context "on real Kafka"

  it_behaves_like "excise, demand and shutdown"
end

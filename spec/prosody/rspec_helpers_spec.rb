# frozen_string_literal: true

require "spec_helper"
require "prosody/rspec"

RSpec.describe Prosody::RSpec::Helpers do
  include described_class

  let(:handler_class) do
    Class.new(Prosody::EventHandler) do
      attr_reader :seen

      def on_message(context, message)
        (@seen ||= []) << [message.key, message.payload, context.attempt]
        case message.payload["fail"]
        when "transient" then raise IOError, "flaky"
        when "permanent" then raise ArgumentError, "bad input"
        when "once" then raise IOError, "flaky" if context.attempt == 1
        end
      end

      def on_timer(_context, _timer); end
      permanent :on_message, ArgumentError
    end
  end

  it "runs the handler on the message and says it was handled" do
    handler = handler_class.new
    outcome = deliver_message(handler, key: "order-1", payload: { "id" => 1 })

    expect(outcome).to be_handled
    expect(outcome.attempts).to eq(1)
    expect(handler.seen).to eq([["order-1", { "id" => 1 }, 1]])
  end

  it "counts the retries before a success" do
    outcome = deliver_message(handler_class, key: "k", payload: { "fail" => "once" })

    expect(outcome).to be_handled
    expect(outcome.attempts).to eq(2)
  end

  it "reports a permanent failure as failed, with the error" do
    outcome = deliver_message(handler_class, key: "k", payload: { "fail" => "permanent" })

    expect(outcome).to be_failed
    expect(outcome.error).to be_a(Prosody::PermanentError)
    expect(outcome.attempts).to eq(1)
  end

  it "reports transient failures past max_retries as still retrying in pipeline mode" do
    outcome = deliver_message(handler_class, key: "k", payload: { "fail" => "transient" },
                                             max_retries: 2)

    expect(outcome).to be_retrying
    expect(outcome.attempts).to eq(3)
    expect(outcome.error).to be_a(IOError)
  end

  it "reports a rare transient failure that pipeline mode parks as deferred" do
    with_test_consumer(handler_class, max_retries: 1, defer_base: 3600) do |consumer|
      # Successes first, so the failure rate stays under defer_failure_threshold (0.9).
      10.times { |n| expect(consumer.deliver(key: "ok-#{n}", payload: {})).to be_handled }
      outcome = consumer.deliver(key: "bad", payload: { "fail" => "transient" })

      expect(outcome).to be_deferred
      expect(outcome.attempts).to eq(2)
      expect(consumer.client.mock_deferred?("bad")).to be(true)
      expect(consumer.client.mock_deferred?("ok-1")).to be(false)
    end
  end

  it "reports what low-latency mode sends to its failure topic as dead-lettered" do
    failures = "spec-failures-#{SecureRandom.hex(4)}"
    outcome = nil
    expect do
      outcome = deliver_message(handler_class, key: "k", payload: { "fail" => "transient" },
                                               mode: :low_latency, failure_topic: failures,
                                               max_retries: 1)
    end.to produce_message(topic: failures, key: "k", payload: { "fail" => "transient" }).once

    expect(outcome).to be_dead_lettered
    expect(outcome.attempts).to eq(2)
  end

  it "reports any failure in best-effort mode as failed after one attempt" do
    outcome = deliver_message(handler_class, key: "k", payload: { "fail" => "transient" },
                                             mode: :best_effort)

    expect(outcome).to be_failed
    expect(outcome.attempts).to eq(1)
  end

  it "excises a key through on_excise, and refuses a handler without it" do
    excising = Class.new(handler_class) do
      def on_excise(context, message)
        (@seen ||= []) << [:excise, message.key, message.excise?, context.demand.retry]
        raise IOError, "flaky" if context.demand.normal?
      end
    end
    handler = excising.new
    with_test_consumer(handler) do |consumer|
      outcome = consumer.excise(key: "order-1")

      expect(outcome).to be_handled
      expect(outcome.attempts).to eq(2)
      expect(handler.seen).to eq([[:excise, "order-1", true, 0], [:excise, "order-1", true, 1]])
    end
    with_test_consumer(handler_class) do |consumer|
      expect { consumer.excise(key: "k") }.to raise_error(ArgumentError, /on_excise/)
    end
  end
end

# frozen_string_literal: true

require "spec_helper"
require "prosody/rspec"

# produce_message, sent_messages and TestConsumer#fire_timers, on the mock broker.
RSpec.describe Prosody::RSpec::ProduceMessage do
  include Prosody::RSpec::Helpers

  let(:topic) { "matcher-#{SecureRandom.hex(4)}" }
  let(:producer) { Prosody::Client.new(mock: true, probe_port: false) }

  after { producer.close }

  it "passes when the block's record reached the broker, matching topic, key and payload" do
    expect { producer.send_message(topic, "k-1", { "id" => 1, "at" => "now" }) }
      .to produce_message(topic:, key: "k-1", payload: hash_including("id" => 1))
  end

  it "fails with a message listing what the block produced" do
    expect do
      expect { producer.send_message(topic, "k-1", { "id" => 1 }) }
        .to produce_message(topic:, key: "k-2")
    end.to raise_error(RSpec::Expectations::ExpectationNotMetError,
                       %r{key: "k-2".*produced 1:\n  #{topic}/\d+@0 key="k-1" payload={"id"=>1}}m)
  end

  it "counts only what was sent inside the block" do
    producer.send_message(topic, "before", {})

    expect { producer.send_message(topic, "k", 1) }.to produce_message(topic:).once
    expect { nil }.not_to produce_message(topic:)
  end

  it "counts with exactly(n) and matches any field it is not given" do
    expect { 2.times { |i| producer.send_message(topic, "k", { "n" => i }) } }
      .to produce_message(payload: a_hash_including("n" => an_instance_of(Integer))).exactly(2)
  end

  it "sees what a handler under deliver_message sends, and leaves out the delivered message" do
    out = topic
    relay = Class.new(Prosody::EventHandler) do
      define_method(:on_message) do |_context, message|
        Prosody::Client.new(mock: true, probe_port: false).tap do |client|
          client.send_message(out, message.key, { "relayed" => message.payload })
        ensure
          client.close
        end
      end
    end

    expect { deliver_message(relay, key: "r", payload: "hi") }
      .to produce_message(topic: out, key: "r", payload: { "relayed" => "hi" }).once
    quiet = Class.new(Prosody::EventHandler) { def on_message(*); end }
    expect { deliver_message(quiet, key: "q", payload: 1) }.not_to produce_message
  end

  it "lists a topic's records with sent_messages" do
    producer.send_message(topic, "a", { "n" => 1 })
    producer.send_message(topic, "a", "text")

    expect(sent_messages(topic).map { |m| [m.key, m.payload] })
      .to eq([["a", { "n" => 1 }], %w[a text]])
    expect(sent_messages(topic).first.headers).to include("traceparent")
  end

  describe "TestConsumer#fire_timers" do
    let(:reminder) do
      Class.new(Prosody::EventHandler) do
        attr_reader :fired

        def on_message(context, message)
          context.schedule(Time.at(message.payload["at"]))
        end

        def on_timer(_context, timer)
          (@fired ||= []) << [timer.key, timer.time.to_i]
        end
      end
    end

    it "runs on_timer for a timer an hour ahead within a second, with the timer's time" do
      handler = reminder.new
      at = Time.now.to_i + 3600
      with_test_consumer(handler) do |consumer|
        expect(consumer.deliver(key: "order-1", payload: { "at" => at })).to be_handled

        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        outcomes = consumer.fire_timers("order-1")

        expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 1
        expect(outcomes.map(&:status)).to eq([:handled])
        expect(handler.fired).to eq([["order-1", at]])
        expect(consumer.fire_timers("other-key")).to eq([])
      end
    end

    it "needs a subscribed client" do
      expect { producer.mock_fire_timers("k") }.to raise_error(Prosody::NotSubscribedError)
    end
  end
end
